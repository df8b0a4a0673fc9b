//! Tokio's side of bench/run: weft's workloads written as Tokio programs
//! write them (tasks, JoinHandles, tokio::sync, tokio::time, TcpListener),
//! behind the command line every peer of bench/run has:
//!
//!     tokio-peer list                  the workloads this peer runs
//!     tokio-peer bench NAME [-t SECS]  run one; print {"name","value","unit","iterations"}
//!     tokio-peer serve echo|http PORT [--threads N]
//!                                      serve on 127.0.0.1:PORT; N = 1 is the
//!                                      current_thread runtime, otherwise the
//!                                      multi-thread one with N workers
//!                                      (default: one per core)
//!
//! A name's workers:1 runs on the current_thread runtime, workers:N on the
//! multi-thread runtime with N workers; the timed body is a spawned task, so
//! it runs on a worker as weft's main task does. Tokio has no rendezvous
//! channel, so the unbuffered chan_pingpong is not listed.
use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};

fn runtime(workers: usize) -> Runtime {
    let mut b = if workers == 1 {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        if workers > 0 {
            b.worker_threads(workers);
        }
        b
    };
    b.enable_all().build().expect("tokio runtime")
}

/// Run body(n) for growing n until one run takes `target`; return the time
/// per iteration of the last run and its n. The body times itself (its setup
/// is not counted) and runs as a task on the runtime's workers.
fn measure<F, Fut>(rt: &Runtime, target: Duration, body: F) -> (f64, u64)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Duration> + Send + 'static,
{
    let mut n: u64 = 1;
    loop {
        let d = rt.block_on(async { tokio::spawn(body(n)).await.expect("benchmark task") });
        if d >= target || n >= 1_000_000_000 {
            return (d.as_nanos() as f64 / n as f64, n);
        }
        let grow = (target.as_secs_f64() * 1.4 / d.as_secs_f64().max(1e-9)).clamp(2.0, 100.0);
        n = ((n as f64) * grow) as u64;
    }
}

// ---- the workloads -------------------------------------------------------

async fn yield_pingpong(n: u64) -> Duration {
    // Two tasks on one thread alternate at every yield_now.
    let stop = Arc::new(AtomicUsize::new(0));
    let s = stop.clone();
    let partner = tokio::spawn(async move {
        while s.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
    });
    tokio::task::yield_now().await;
    let t0 = Instant::now();
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    let d = t0.elapsed();
    stop.store(1, Ordering::Relaxed);
    partner.await.unwrap();
    d
}

async fn spawn_join(n: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        let r = tokio::spawn(async move { i }).await.unwrap();
        assert_eq!(r, i);
    }
    t0.elapsed()
}

const SKYNET_LEAVES: u64 = 1_000_000;
const SKYNET_TASKS: u64 = 1_111_111;

fn skynet(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let sub = size / 10;
        let kids: Vec<_> = (0..10).map(|i| tokio::spawn(skynet(num + i * sub, sub))).collect();
        let mut sum = 0;
        for k in kids {
            sum += k.await.unwrap();
        }
        sum
    })
}

async fn skynet_bench(n: u64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        let s = tokio::spawn(skynet(0, SKYNET_LEAVES)).await.unwrap();
        assert_eq!(s, SKYNET_LEAVES * (SKYNET_LEAVES - 1) / 2);
    }
    t0.elapsed()
}

const FIB_N: u64 = 25;
const FIB_SPAWNS: u64 = 121_392;

// One half spawned, the other computed inline, as weft's BM_fib.
fn fib(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return n;
        }
        let a = tokio::spawn(fib(n - 1));
        let b = fib(n - 2).await;
        a.await.unwrap() + b
    })
}

async fn fib_bench(n: u64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..n {
        assert_eq!(fib(FIB_N).await, 75025);
    }
    t0.elapsed()
}

// Round trips over two bounded mpsc channels (capacity 16), as Go's
// buffered ping-pong.
async fn chan_pingpong_buffered(n: u64) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(16);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(16);
    let partner = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let mut v = 0;
    for _ in 0..n {
        ping_tx.send(v).await.unwrap();
        let r = pong_rx.recv().await.unwrap();
        assert_eq!(r, v + 1);
        v = r;
    }
    let d = t0.elapsed();
    drop(ping_tx);
    partner.await.unwrap();
    d
}

// n lock/increment/unlock of a tokio::sync::Mutex spread over `tasks` tasks
// that start together.
async fn mutex_contended(n: u64, tasks: u64) -> Duration {
    let m = Arc::new(tokio::sync::Mutex::new(0u64));
    let start = Arc::new(tokio::sync::Notify::new());
    let ready = Arc::new(AtomicUsize::new(0));
    let per = n / tasks + 1;
    let hs: Vec<_> = (0..tasks)
        .map(|_| {
            let (m, start, ready) = (m.clone(), start.clone(), ready.clone());
            tokio::spawn(async move {
                let go = start.notified();
                ready.fetch_add(1, Ordering::SeqCst);
                go.await;
                for _ in 0..per {
                    *m.lock().await += 1;
                }
            })
        })
        .collect();
    while ready.load(Ordering::SeqCst) < tasks as usize {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let t0 = Instant::now();
    start.notify_waiters();
    for h in hs {
        h.await.unwrap();
    }
    let d = t0.elapsed();
    assert_eq!(*m.lock().await, per * tasks);
    // per lock: we took per * tasks >= n locks
    Duration::from_nanos((d.as_nanos() as f64 * n as f64 / (per * tasks) as f64) as u64)
}

// One op: a task sleeps an hour; it is aborted and awaited. A batch of 100
// sleeps at once, as in weft's BM_sleep_cancel.
async fn sleep_cancel(n: u64) -> Duration {
    const BATCH: u64 = 100;
    let asleep = Arc::new(AtomicU64::new(0));
    let batches = (n + BATCH - 1) / BATCH;
    let t0 = Instant::now();
    for _ in 0..batches {
        asleep.store(0, Ordering::Relaxed);
        let hs: Vec<_> = (0..BATCH)
            .map(|_| {
                let a = asleep.clone();
                tokio::spawn(async move {
                    a.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                })
            })
            .collect();
        while asleep.load(Ordering::Relaxed) < BATCH {
            tokio::task::yield_now().await;
        }
        for h in &hs {
            h.abort();
        }
        for h in hs {
            assert!(h.await.unwrap_err().is_cancelled());
        }
    }
    let d = t0.elapsed();
    Duration::from_nanos((d.as_nanos() as f64 * n as f64 / (batches * BATCH) as f64) as u64)
}

async fn blocking_roundtrip(n: u64) -> Duration {
    let t0 = Instant::now();
    for i in 0..n {
        assert_eq!(tokio::task::spawn_blocking(move || i).await.unwrap(), i);
    }
    t0.elapsed()
}

fn rss_bytes() -> f64 {
    let mut s = String::new();
    std::fs::File::open("/proc/self/statm").unwrap().read_to_string(&mut s).unwrap();
    let pages: f64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0
}

// Resident bytes per task parked forever (std::future::pending), 100,000
// of them on 2 workers, as weft's BM_idle_memory.
fn idle_memory() -> f64 {
    const TASKS: usize = 100_000;
    let rt = runtime(2);
    rt.block_on(async {
        tokio::spawn(async {
            let started = Arc::new(AtomicUsize::new(0));
            let before = rss_bytes();
            let hs: Vec<_> = (0..TASKS)
                .map(|_| {
                    let s = started.clone();
                    tokio::spawn(async move {
                        s.fetch_add(1, Ordering::Relaxed);
                        std::future::pending::<()>().await
                    })
                })
                .collect();
            while started.load(Ordering::Relaxed) < TASKS {
                tokio::task::yield_now().await;
            }
            let after = rss_bytes();
            for h in &hs {
                h.abort();
            }
            for h in hs {
                assert!(h.await.unwrap_err().is_cancelled());
            }
            (after - before) / TASKS as f64
        })
        .await
        .unwrap()
    })
}

const NAMES: &[&str] = &[
    "yield_pingpong",
    "spawn_join/workers:1",
    "spawn_join/workers:2",
    "skynet/workers:1",
    "skynet/workers:2",
    "fib/workers:1",
    "fib/workers:2",
    "chan_pingpong_buffered/workers:1",
    "chan_pingpong_buffered/workers:2",
    "mutex_contended/workers:1/tasks:4",
    "mutex_contended/workers:2/tasks:2",
    "mutex_contended/workers:2/tasks:4",
    "sleep_cancel/workers:1",
    "sleep_cancel/workers:2",
    "blocking_roundtrip/workers:1",
    "blocking_roundtrip/workers:2",
    "idle_memory",
];

fn bench(name: &str, target: Duration) -> Option<(f64, u64, &'static str)> {
    if name == "idle_memory" {
        return Some((idle_memory(), 100_000, "B"));
    }
    let workers: usize = name
        .split('/')
        .find_map(|p| p.strip_prefix("workers:"))
        .map_or(1, |w| w.parse().unwrap());
    let rt = runtime(workers);
    let base = name.split('/').next().unwrap();
    // Operations per iteration: a yield iteration is two switches (ours and
    // the partner's), a skynet one 1,111,111 tasks, a fib one 121,392 spawns.
    let per_iter = match base {
        "yield_pingpong" => 2.0,
        "skynet" => SKYNET_TASKS as f64,
        "fib" => FIB_SPAWNS as f64,
        _ => 1.0,
    };
    let (ns, n) = match base {
        "yield_pingpong" => measure(&rt, target, yield_pingpong),
        "spawn_join" => measure(&rt, target, spawn_join),
        "skynet" => measure(&rt, target, skynet_bench),
        "fib" => measure(&rt, target, fib_bench),
        "chan_pingpong_buffered" => measure(&rt, target, chan_pingpong_buffered),
        "mutex_contended" => {
            let tasks: u64 = name.rsplit("tasks:").next().unwrap().parse().unwrap();
            measure(&rt, target, move |n| mutex_contended(n, tasks))
        }
        "sleep_cancel" => measure(&rt, target, sleep_cancel),
        "blocking_roundtrip" => measure(&rt, target, blocking_roundtrip),
        _ => return None,
    };
    Some((ns / per_iter, n, "ns"))
}

// ---- the servers ---------------------------------------------------------

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: tokio\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 13\r\n\
Connection: keep-alive\r\n\r\n\
Hello, World!";

async fn echo_conn(mut s: TcpStream) {
    let mut buf = vec![0u8; 16384];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

// A minimal HTTP/1.1 keep-alive responder: every request (up to its blank
// line; the load is GETs without bodies) gets the same 200.
async fn http_conn(mut s: TcpStream) {
    let mut buf = vec![0u8; 16384];
    let mut len = 0;
    let mut out = Vec::with_capacity(4096);
    loop {
        match s.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => len += n,
        }
        let mut start = 0;
        while let Some(p) = buf[start..len].windows(4).position(|w| w == b"\r\n\r\n") {
            out.extend_from_slice(RESPONSE);
            start += p + 4;
        }
        buf.copy_within(start..len, 0);
        len -= start;
        if len == buf.len() {
            return; // a request bigger than the buffer
        }
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

fn serve(what: &str, port: u16, threads: usize) -> std::io::Result<()> {
    let rt = runtime(threads);
    let http = what == "http";
    rt.block_on(async move {
        let l = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}", l.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (s, _) = l.accept().await?;
            if http {
                tokio::spawn(http_conn(s));
            } else {
                tokio::spawn(echo_conn(s));
            }
        }
    })
}

fn usage() -> ! {
    eprintln!("usage: tokio-peer list | bench NAME [-t SECONDS] | serve echo|http PORT [--threads N]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("list") => {
            for n in NAMES {
                println!("{n}");
            }
        }
        Some("bench") => {
            let name = args.get(2).unwrap_or_else(|| usage());
            let secs: f64 = match args.get(3).map(String::as_str) {
                Some("-t") => args.get(4).and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()),
                None => 0.2,
                _ => usage(),
            };
            match bench(name, Duration::from_secs_f64(secs)) {
                Some((v, n, unit)) => println!(
                    "{{\"name\":\"{name}\",\"value\":{v},\"unit\":\"{unit}\",\"iterations\":{n}}}"
                ),
                None => {
                    eprintln!("tokio-peer: no workload {name:?}");
                    std::process::exit(2)
                }
            }
        }
        Some("serve") if args.len() >= 4 && (args[2] == "echo" || args[2] == "http") => {
            let port: u16 = args[3].parse().unwrap_or_else(|_| usage());
            let threads = match (args.get(4).map(String::as_str), args.get(5)) {
                (Some("--threads"), Some(n)) => n.parse().unwrap_or_else(|_| usage()),
                (None, _) => 0,
                _ => usage(),
            };
            if let Err(e) = serve(&args[2], port, threads) {
                eprintln!("tokio-peer: {e}");
                std::process::exit(1)
            }
        }
        _ => usage(),
    }
}
