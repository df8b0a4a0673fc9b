package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// Echo: a goroutine per connection reading and writing back, as weft's
// examples/echo does with a task. HTTP: net/http, the server Go programs use,
// answering GET / with the same body as weft's examples/http.
func serve(what string, port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", l.Addr())
	if what == "http" {
		hello := []byte("Hello, World!")
		return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(hello)
		}))
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 16384)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}(c)
	}
}
