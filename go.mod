module github.com/ordermesh/ordermesh

go 1.26.7
