"""Gzipped answers joined from pieces deflated apart (`fhir.http.gzip_pieces`): one valid gzip
member, whatever decoder reads it."""

from __future__ import annotations

import gzip
import os
import zlib

import httpx
import pytest

from uec_booking.fhir.http import Deflated, gzip_pieces

HEAD = b'{"resourceType":"Bundle","entry":['
ENTRIES = b",".join(
    b'{"resource":{"id":"%d","text":"%s"}}' % (i, os.urandom(8).hex().encode()) for i in range(2000)
)
END = b"]}"


@pytest.mark.parametrize(
    "pieces",
    [
        [HEAD, Deflated.of(ENTRIES), END],
        [HEAD, ENTRIES, END],
        [Deflated.of(HEAD), Deflated.of(ENTRIES), Deflated.of(END)],
        [HEAD],
        [b"", Deflated.of(b""), b""],
    ],
    ids=["kept-entries", "none-kept", "all-kept", "one-piece", "empty"],
)
def test_pieces_deflated_apart_make_one_gzip_member(pieces: list[bytes | Deflated]) -> None:
    whole = b"".join(p.raw if isinstance(p, Deflated) else p for p in pieces)
    body = gzip_pieces(pieces)
    assert gzip.decompress(body) == whole
    # A single-member decoder, as HTTP clients use, reads all of it and nothing is left over.
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(body) == whole and decoder.eof and not decoder.unused_data
    answer = httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=body)
    assert answer.read() == whole


def test_a_kept_piece_is_compressed_once() -> None:
    kept = Deflated.of(ENTRIES)
    assert len(kept.deflated) < len(ENTRIES) / 2  # it is compressed
    # Two answers around the same kept piece differ only in what surrounds it.
    one, two = gzip_pieces([b"{1", kept, b"}"]), gzip_pieces([b"{2", kept, b"}"])
    assert kept.deflated in one and kept.deflated in two
