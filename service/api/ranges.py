"""Byte ranges for files served from memory (evidence read from object storage).

Browsers fetch video with ``Range`` requests: Safari plays nothing without them and Chrome cannot seek, so a
clip from object storage must answer them as a file on disk does (Starlette's ``FileResponse`` handles disk).
One range per request (what players send); a malformed or multi-range header gets the whole file, which RFC 9110
allows.
"""

from __future__ import annotations

import re

from fastapi import Response, status

_ONE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def bytes_response(content: bytes, media_type: str, headers: dict[str, str], range_header: str | None) -> Response:
    headers = {**headers, "Accept-Ranges": "bytes"}
    match = _ONE_RANGE.match(range_header.strip()) if range_header else None
    if match is None or match[1] == match[2] == "":
        return Response(content, media_type=media_type, headers=headers)
    size = len(content)
    if match[1] == "":  # the last N bytes
        start, end = max(0, size - int(match[2])), size - 1
        if int(match[2]) == 0:
            start = size  # an empty suffix cannot be satisfied
    else:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or end < start:
        return Response(status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE, media_type=media_type,
                        headers={**headers, "Content-Range": f"bytes */{size}"})
    return Response(content[start:end + 1], status_code=status.HTTP_206_PARTIAL_CONTENT, media_type=media_type,
                    headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})
