module weft.local/bench/peers/go/micro

go 1.19
