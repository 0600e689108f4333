package service

import "github.com/ordermesh/ordermesh/internal/platform/rpcerr"

var errorf = rpcerr.Errorf
