// ordermesh.common.v1 is one Protobuf package in two files; it is one
// namespace here too.
export * from "./gen/ordermesh/common/v1/money_pb.js";
export * from "./gen/ordermesh/common/v1/address_pb.js";
