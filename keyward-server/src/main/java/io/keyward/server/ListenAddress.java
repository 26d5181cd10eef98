package io.keyward.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;

/** Checks that the server can listen where it was told to, before it starts anything else. */
final class ListenAddress {
  private ListenAddress() {}

  /**
   * Binds {@code host:port} once and lets go, so that a port in use or a host that is not this
   * machine's stops the start with one line, before a database is started or a root key made.
   * (Another process could still take the port in the instant before the server binds it; the
   * server checks its own bind too.) Port 0 picks a free port and needs no check, but the host
   * still does.
   *
   * @throws IllegalStateException naming the address and the reason
   */
  static void requireFree(String host, int port) {
    InetAddress address;
    try {
      address = InetAddress.getByName(host);
    } catch (UnknownHostException e) {
      throw new IllegalStateException("cannot listen on " + host + ":" + port
          + ": unknown host (--host / KEYWARD_HOST)");
    }
    try (ServerSocket socket = new ServerSocket()) {
      socket.setReuseAddress(true); // as the server does: a port in TIME_WAIT is free
      socket.bind(new InetSocketAddress(address, port));
    } catch (IOException e) {
      String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      if (reason.contains("in use")) {
        reason = "the port is already in use (--port / KEYWARD_PORT)";
      } else if (reason.contains("assign requested address")) {
        reason = "this machine has no such address (--host / KEYWARD_HOST)";
      }
      throw new IllegalStateException("cannot listen on " + host + ":" + port + ": " + reason);
    }
  }
}
