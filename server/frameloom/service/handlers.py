"""The service's method table: the generated one, plus a clear answer to bytes that do not parse.

gRPC deserializes a request before the handler runs, and a request that is not a frameloom.v1
message would otherwise end the call with UNKNOWN. Here a request that fails to parse reaches
the handler as :data:`MALFORMED` and the call ends INVALID_ARGUMENT, naming the method; in a
request stream it surfaces as the ``DecodeError`` the streaming handlers already answer.
"""
from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError

from frameloom_client import wire
from frameloom_client.v1 import frameloom_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["Frameloom"]
MALFORMED = object()


def _tolerant(parse):
    def deserialize(data: bytes):
        try:
            return parse(data)
        except DecodeError:
            return MALFORMED
    return deserialize


def _refusing_unary(method, name: str):
    async def handle(request, context):
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"malformed {name} request (not a frameloom.v1 message)")
        return await method(request, context)
    return handle


def _refusing_unary_stream(method, name: str):
    async def handle(request, context):
        if request is MALFORMED:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"malformed {name} request (not a frameloom.v1 message)")
        async for response in method(request, context):
            yield response
    return handle


async def _checked(requests):
    async for request in requests:
        if request is MALFORMED:
            raise DecodeError("malformed request")
        yield request


def _refusing_stream_stream(method):
    async def handle(requests, context):
        async for response in method(_checked(requests), context):
            yield response
    return handle


def _refusing_stream_unary(method):
    async def handle(requests, context):
        return await method(_checked(requests), context)
    return handle


def frameloom_handler(servicer) -> grpc.GenericRpcHandler:
    """Every method of frameloom.v1.Frameloom, bound to ``servicer``'s coroutines."""
    table = {}
    for m in SERVICE.methods:
        request = getattr(pb, m.input_type.name)
        impl = getattr(servicer, m.name)
        parse = request.FromString
        if m.name == "Stylize":   # frame chunks are read without protobuf's copies (.wire)
            parse = lambda b: wire.parse_carrier(b, pb.StylizeRequest, wire.REQUEST_CHUNK)  # noqa: E731
        # Responses may be handed over as ready wire bytes (frame chunks), or as messages.
        kw = {"request_deserializer": _tolerant(parse), "response_serializer": wire.serialize}
        if m.client_streaming and m.server_streaming:
            table[m.name] = grpc.stream_stream_rpc_method_handler(_refusing_stream_stream(impl), **kw)
        elif m.client_streaming:
            table[m.name] = grpc.stream_unary_rpc_method_handler(_refusing_stream_unary(impl), **kw)
        elif m.server_streaming:
            table[m.name] = grpc.unary_stream_rpc_method_handler(_refusing_unary_stream(impl, m.name), **kw)
        else:
            table[m.name] = grpc.unary_unary_rpc_method_handler(_refusing_unary(impl, m.name), **kw)
    return grpc.method_handlers_generic_handler(SERVICE.full_name, table)
