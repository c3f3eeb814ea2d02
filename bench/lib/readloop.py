"""The read loop the bench's readers share: a file front to back in reads the size of a buffer
(1 MiB in every caller: what `dd bs=1M` does)."""
import os


def read_chunks(path, mv):
    """Yields the length of each read into the memoryview `mv` until end of file. An OSError
    (open or read) propagates after the chunks read so far."""
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            k = os.readv(fd, [mv])
            if k <= 0:
                return
            yield k
    finally:
        os.close(fd)
