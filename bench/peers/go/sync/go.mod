module weft.local/bench/peers/go/sync

go 1.19
