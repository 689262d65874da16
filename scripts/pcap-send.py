#!/usr/bin/env python3
"""Plays a classic pcap (Ethernet) onto a network interface at the capture's pace.

    pcap-send.py IFACE FILE

Used by scripts/make-pcaps.sh instead of tcpreplay: every frame is scheduled at an
absolute time (start + its capture offset), so a busy machine makes frames late
by a few milliseconds but never stretches the replay; frames that are late are
sent at once. Prints the frame count, the duration and how late frames were.
"""
import socket
import struct
import sys
import time


def main() -> int:
    iface, path = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        data = f.read()
    (magic,) = struct.unpack_from("<I", data, 0)
    if magic != 0xA1B2C3D4:
        print(f"{path}: not a little-endian microsecond pcap", file=sys.stderr)
        return 1
    frames = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        off += 16
        frames.append((sec + usec / 1e6, data[off : off + incl]))
        off += incl
    if not frames:
        return 0
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind((iface, 0))
    t0 = frames[0][0]
    start = time.perf_counter() + 0.05
    late_max = 0.0
    late_100ms = 0
    clock = time.perf_counter
    send = s.send
    for ts, frame in frames:
        due = start + (ts - t0)
        now = clock()
        if due > now + 0.0002:
            time.sleep(due - now)
        else:
            late = now - due
            if late > late_max:
                late_max = late
            if late > 0.1:
                late_100ms += 1
        send(frame)
    took = clock() - start
    span = frames[-1][0] - t0
    print(f"sent {len(frames)} frames in {took:.2f} s (capture span {span:.2f} s); "
          f"latest frame {late_max * 1000:.1f} ms late, {late_100ms} frames more than 100 ms late")
    return 0


if __name__ == "__main__":
    sys.exit(main())
