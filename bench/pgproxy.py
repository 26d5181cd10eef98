#!/usr/bin/env python3
"""A loopback TCP proxy in front of PostgreSQL whose failure mode is switched at run time, for
bench/outage.sh. Standard library only; one thread, one selector, no busy loop.

Usage:
  bench/pgproxy.py --mode-file FILE [--port-file FILE] [--listen-port P] [--target HOST:PORT]
                   [--parent-pid PID]

Modes (write one word to --mode-file; it is read every 50 ms):
  pass       forward bytes both ways (the default, and what an empty or missing file means)
  refuse     close the listening socket and every connection: new connects get ECONNREFUSED
  blackhole  keep listening and accepting, keep every connection open, forward nothing in
             either direction (bytes wait in the kernel's buffers)

After applying a mode the proxy writes it to <mode-file>.ack (atomically), so a caller can wait
until the fault is really on. Leaving blackhole for pass resumes forwarding on the connections
that were held (a healed network); connections accepted during the blackhole get their
upstream connection then. --port-file receives the port listened on (useful with
--listen-port 0, the default: any free port; later re-listens after `refuse` reuse that port).
With --parent-pid the proxy exits when that process is gone. SIGTERM/SIGINT stop it.
"""

import argparse
import errno
import os
import selectors
import signal
import socket
import sys
import time

POLL_SECONDS = 0.05          # how often the mode file (and the parent) is checked
MAX_BUFFER = 1 << 20         # per direction: stop reading a side while its peer is this far behind
CONNECT_TIMEOUT = 2.0        # upstream connect (loopback: immediate, or refused)
MODES = ("pass", "refuse", "blackhole")


def log(msg):
    sys.stderr.write("%s pgproxy: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Side:
    """One socket of a proxied connection and the bytes waiting to be written to it."""

    def __init__(self, sock):
        self.sock = sock
        self.out = bytearray()
        self.eof = False         # the other side finished sending: shut our write side when drained
        self.eof_read = False    # this side finished sending (we read its EOF)
        self.peer = None


class Proxy:
    def __init__(self, args):
        self.target = args.target
        self.mode_file = args.mode_file
        self.port_file = args.port_file
        self.parent = args.parent_pid
        self.port = args.listen_port
        self.sel = selectors.DefaultSelector()
        self.listener = None
        self.sides = set()       # every open Side (client and upstream)
        self.pending = set()     # client Sides accepted in blackhole, with no upstream yet
        self.mode = "pass"
        self.mode_stamp = None   # (mtime_ns, size) of the mode file last read
        self.stopping = False

    # -- listening ------------------------------------------------------------------------------

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        s.setblocking(False)
        self.port = s.getsockname()[1]
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, None)

    def unlisten(self):
        if self.listener is not None:
            self.sel.unregister(self.listener)
            self.listener.close()
            self.listener = None

    # -- connections ----------------------------------------------------------------------------

    def accept(self):
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Side(conn)
        self.sides.add(client)
        if self.mode == "blackhole":
            self.pending.add(client)        # held open, never read: no upstream until pass
        else:
            self.connect_upstream(client)

    def connect_upstream(self, client):
        try:
            up = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
        except OSError as e:
            log("upstream connect failed: %s" % e)
            self.close_pair(client)
            return
        up.setblocking(False)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = Side(up)
        client.peer, upstream.peer = upstream, client
        self.sides.add(upstream)
        self.update(client)
        self.update(upstream)

    def close_side(self, side):
        if side in self.sides:
            self.sides.discard(side)
            self.pending.discard(side)
            try:
                self.sel.unregister(side.sock)
            except (KeyError, ValueError):
                pass
            side.sock.close()

    def close_pair(self, side):
        peer = side.peer
        self.close_side(side)
        if peer is not None:
            self.close_side(peer)

    def update(self, side):
        """(Re)register a side for the events it needs in pass mode; none in blackhole."""
        if side not in self.sides:
            return
        events = 0
        if self.mode == "pass" and side.peer is not None:
            if not side.eof_read and len(side.peer.out) < MAX_BUFFER:
                events |= selectors.EVENT_READ
            if side.out:
                events |= selectors.EVENT_WRITE
        try:
            key = self.sel.get_key(side.sock)
        except KeyError:
            key = None
        if key is None and events:
            self.sel.register(side.sock, events, side)
        elif key is not None and not events:
            self.sel.unregister(side.sock)
        elif key is not None and key.events != events:
            self.sel.modify(side.sock, events, side)

    def on_readable(self, side):
        try:
            data = side.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_pair(side)
            return
        peer = side.peer
        if not data:                        # orderly shutdown: pass it on once drained
            side.eof_read = True
            peer.eof = True
            if not peer.out:
                self.shut_write(peer)
        else:
            peer.out += data
        self.update(side)
        self.update(peer)

    def on_writable(self, side):
        try:
            n = side.sock.send(side.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close_pair(side)
            return
        del side.out[:n]
        if not side.out and side.eof:
            self.shut_write(side)
        self.update(side)
        self.update(side.peer)

    def shut_write(self, side):
        try:
            side.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # Both directions finished: the pair is done.
        if side.eof_read and side.peer.eof_read:
            self.close_pair(side)

    # -- modes ----------------------------------------------------------------------------------

    def read_mode(self):
        try:
            st = os.stat(self.mode_file)
        except FileNotFoundError:
            return "pass"
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self.mode_stamp:
            return self.mode
        try:
            with open(self.mode_file) as f:
                word = f.read().strip() or "pass"
        except OSError:
            return self.mode
        if word not in MODES:
            log("ignoring unknown mode %r" % word)
            return self.mode
        self.mode_stamp = stamp
        return word

    def apply(self, mode):
        if mode == self.mode:
            return
        old, self.mode = self.mode, mode
        if mode == "refuse":
            self.unlisten()
            n = len(self.sides)
            for side in list(self.sides):
                self.close_side(side)
            log("refuse: listening socket closed, %d sockets closed" % n)
        elif mode == "blackhole":
            if self.listener is None:
                self.listen()
            for side in list(self.sides):
                self.update(side)            # unregisters: nothing read, nothing written
            log("blackhole: %d sockets held, nothing forwarded" % len(self.sides))
        else:
            if self.listener is None:
                self.listen()
            for client in list(self.pending):
                self.pending.discard(client)
                self.connect_upstream(client)
            for side in list(self.sides):
                self.update(side)
            log("pass (from %s): forwarding, %d sockets" % (old, len(self.sides)))
        self.ack()

    def ack(self):
        tmp = self.mode_file + ".ack.tmp"
        with open(tmp, "w") as f:
            f.write(self.mode + "\n")
        os.replace(tmp, self.mode_file + ".ack")

    # -- main loop ------------------------------------------------------------------------------

    def run(self):
        self.listen()
        if self.port_file:
            tmp = self.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % self.port)
            os.replace(tmp, self.port_file)
        log("listening on 127.0.0.1:%d, forwarding to %s:%d" % ((self.port,) + self.target))
        self.apply(self.read_mode())
        self.ack()
        next_poll = 0.0
        while not self.stopping:
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + POLL_SECONDS
                if self.parent and not alive(self.parent):
                    log("parent %d is gone; exiting" % self.parent)
                    break
                self.apply(self.read_mode())
            for key, events in self.sel.select(timeout=max(0.0, next_poll - time.monotonic())):
                side = key.data
                if side is None:
                    if self.listener is not None:
                        self.accept()
                    continue
                if side not in self.sides or self.mode != "pass":
                    continue
                if events & selectors.EVENT_WRITE:
                    self.on_writable(side)
                if side in self.sides and events & selectors.EVENT_READ:
                    self.on_readable(side)
        for side in list(self.sides):
            self.close_side(side)
        self.unlisten()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError as e:
        return e.errno == errno.EPERM


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode-file", required=True)
    p.add_argument("--port-file")
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--target", default="127.0.0.1:5432")
    p.add_argument("--parent-pid", type=int, default=0)
    args = p.parse_args()
    host, _, port = args.target.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        p.error("--target must be a loopback address")
    args.target = (host, int(port))
    proxy = Proxy(args)

    def stop(signum, frame):
        proxy.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    proxy.run()
    log("stopped")


if __name__ == "__main__":
    main()
