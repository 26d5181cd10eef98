package io.keyward.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP proxy on a loopback port in front of a real server (PostgreSQL, Redis), for injecting
 * network faults for real: {@link #stop()} kills every connection and makes the port refuse.
 */
public final class TcpProxy implements AutoCloseable {
  private final ServerSocket listener;
  private final String targetHost;
  private volatile int targetPort;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private volatile boolean running = true;

  private TcpProxy(String targetHost, int targetPort) throws IOException {
    this(0, targetHost, targetPort);
  }

  private TcpProxy(int listenPort, String targetHost, int targetPort) throws IOException {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.listener = new ServerSocket();
    listener.setReuseAddress(true);
    listener.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), listenPort), 50);
    Thread.ofVirtual().name("tcp-proxy-accept").start(this::accept);
  }

  /** Starts a proxy to 127.0.0.1:{@code targetPort}. */
  public static TcpProxy to(int targetPort) {
    return to("127.0.0.1", targetPort);
  }

  /** Starts a proxy to {@code targetHost:targetPort}. */
  public static TcpProxy to(String targetHost, int targetPort) {
    try {
      return new TcpProxy(targetHost, targetPort);
    } catch (IOException e) {
      throw new IllegalStateException("cannot open proxy port: " + e.getMessage(), e);
    }
  }

  /**
   * Starts a proxy on a given loopback port (one that refused connections until now, say) to
   * 127.0.0.1:{@code targetPort}.
   */
  public static TcpProxy on(int listenPort, int targetPort) {
    try {
      return new TcpProxy(listenPort, "127.0.0.1", targetPort);
    } catch (IOException e) {
      throw new IllegalStateException("cannot open proxy port " + listenPort + ": "
          + e.getMessage(), e);
    }
  }

  /** A loopback port nothing listens on (free when this returns). */
  public static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException("no free port: " + e.getMessage(), e);
    }
  }

  public int port() {
    return listener.getLocalPort();
  }

  /** Kills every connection and closes the port: connecting to it is refused from now on. */
  public void stop() {
    running = false;
    try {
      listener.close();
    } catch (IOException ignored) {
      // closing is all we want
    }
    for (Socket socket : sockets) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // already gone
      }
    }
  }

  /**
   * Kills every connection and sends new ones to 127.0.0.1:{@code port} from now on (another
   * server put in the real one's place, without giving up the listening port).
   */
  public void retarget(int port) {
    targetPort = port;
    for (Socket socket : sockets) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // already gone
      }
    }
  }

  @Override
  public void close() {
    stop();
  }

  private void accept() {
    while (running) {
      try {
        Socket client = listener.accept();
        sockets.add(client);
        Socket server;
        try {
          server = new Socket(targetHost, targetPort);
        } catch (IOException refused) {
          client.close(); // nothing there: the client sees the connection end
          sockets.remove(client);
          continue;
        }
        sockets.add(server);
        if (!running) {
          // stop() ran while this connection was being set up, and may have missed it: a
          // stopped proxy must carry nothing.
          client.close();
          server.close();
          return;
        }
        Thread.ofVirtual().start(() -> pump(client, server));
        Thread.ofVirtual().start(() -> pump(server, client));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void pump(Socket from, Socket to) {
    byte[] buffer = new byte[16 * 1024];
    try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
      int read;
      while ((read = in.read(buffer)) >= 0) {
        out.write(buffer, 0, read);
        out.flush();
      }
    } catch (IOException e) {
      // the other side closed, or stop() did
    } finally {
      sockets.remove(from);
      sockets.remove(to);
      try {
        from.close();
        to.close();
      } catch (IOException ignored) {
        // done either way
      }
    }
  }
}
