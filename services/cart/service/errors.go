package service

import "github.com/ordermesh/ordermesh/services/platform/rpcerr"

var errorf = rpcerr.Errorf
