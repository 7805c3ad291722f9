"""Read what an offline wandb run recorded (group, job type, config) straight from its ``.wandb`` file."""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2


def wandb_run_record(path: Path) -> wandb_internal_pb2.RunRecord:
    """The run record of an offline ``.wandb`` file.

    wandb >= 0.2x writes no config.yaml/wandb-metadata.json offline and ships no Python reader: the file is
    a LevelDB-style log (7-byte file header, 32 KiB blocks, records ``crc32 u32 | length u16 | type u8``
    split into FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4 fragments) of ``wandb_internal_pb2.Record`` messages.
    """
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    block, pos, chunk = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the rest of a block too small for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            if record.WhichOneof("record_type") == "run":
                return record.run
    raise AssertionError(f"no run record in {path}")
