package io.keyward.server;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;

import io.helidon.common.buffers.BufferData;
import io.helidon.common.buffers.DataReader;
import io.helidon.common.buffers.DataWriter;
import io.helidon.common.socket.HelidonSocket;
import io.helidon.common.socket.PeerInfo;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.ListenerContext;
import io.helidon.webserver.ProxyProtocolData;
import io.helidon.webserver.Router;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.http1.Http1ConnectionSelector;
import io.helidon.webserver.spi.ServerConnection;
import io.helidon.webserver.spi.ServerConnectionSelector;

/**
 * Accepts HTTP/1.0 requests, which Helidon 4 answers with 505 and no option to change it, though
 * load balancers send them (HAProxy's default health check is {@code GET /health/live
 * HTTP/1.0}). The first request of a connection that says HTTP/1.0 is rewritten to HTTP/1.1 with
 * {@code Connection: close} (and a {@code Host} if it had none) before the connection is handed
 * to Helidon's own HTTP/1.1 selector; HTTP/1.1 connections are handed over untouched. Keyward
 * only sends whole bodies with a Content-Length, which an HTTP/1.0 client reads as it should.
 * An HTTP/1.0 request after an HTTP/1.1 one on the same connection still gets 505 (no client
 * does that).
 */
final class Http10Selector implements ServerConnectionSelector {
  private final Http1Config config;
  private final Http1ConnectionSelector delegate;

  Http10Selector(Http1Config config) {
    this.config = config;
    this.delegate = Http1ConnectionSelector.builder().config(config).build();
  }

  @Override public int bytesToIdentifyConnection() { return 0; }

  // Same test as Http1ConnectionSelector.supports, but accepting " HTTP/1.0\r" as well.
  @Override public Support supports(BufferData data) {
    int lf = data.indexOf((byte) '\n');
    if (lf == -1) {
      return data.available() <= config.maxPrologueLength() ? Support.SUPPORTED : Support.UNSUPPORTED;
    }
    String line = data.readString(lf);
    return line.endsWith(" HTTP/1.1\r") || line.endsWith(" HTTP/1.0\r") ? Support.SUPPORTED : Support.UNSUPPORTED;
  }

  @Override public Set<String> supportedApplicationProtocols() { return delegate.supportedApplicationProtocols(); }

  @Override public ServerConnection connection(ConnectionContext ctx) {
    DataReader in = ctx.dataReader();
    byte[] rewritten;
    try {
      rewritten = rewriteIfHttp10(in, ctx);
    } catch (RuntimeException e) { // EOF, bad new lines...: let Helidon's own parser report it
      rewritten = null;
    }
    if (rewritten == null) {
      return delegate.connection(ctx);
    }
    byte[] first = rewritten;
    DataReader wrapped = DataReader.create(new java.util.function.Supplier<byte[]>() {
      private boolean headDone;
      @Override public byte[] get() {
        if (!headDone) { headDone = true; return first; }
        try {
          in.ensureAvailable();
          return in.readBytes(in.available());
        } catch (DataReader.InsufficientDataAvailableException e) {
          return null; // EOF
        }
      }
    });
    return delegate.connection(new Ctx(ctx, wrapped));
  }

  /** Returns the rewritten prologue+headers, or null (nothing consumed) when it is not HTTP/1.0. */
  private byte[] rewriteIfHttp10(DataReader in, ConnectionContext ctx) {
    int max = config.maxPrologueLength();
    int eol = in.findNewLine(max);                 // blocks until the request line is complete
    if (eol == max) return null;
    String line = in.getBuffer(eol).readString(eol);
    if (!line.endsWith(" HTTP/1.0")) return null;   // HTTP/1.1 (or garbage): untouched
    // consume and rewrite request line + header block
    in.skip(eol + 2);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes((line.substring(0, line.length() - 3) + "1.1\r\n").getBytes(StandardCharsets.US_ASCII));
    boolean hasHost = false;
    int budget = config.maxHeadersSize();
    while (true) {
      int e = in.findNewLine(Math.max(budget, 0));
      if (e == 0) { in.skip(2); break; }                       // end of headers
      if (e >= budget) {                                       // too large: forward as is, Helidon rejects it
        out.writeBytes(in.readBytes(in.available()));
        return out.toByteArray();
      }
      byte[] h = in.readBytes(e);
      in.skip(2);
      budget -= e + 2;
      String name = new String(h, StandardCharsets.US_ASCII).split(":", 2)[0].trim().toLowerCase(Locale.ROOT);
      if (name.equals("connection")) continue;                 // HTTP/1.0: we always close
      if (name.equals("host")) hasHost = true;
      out.writeBytes(h);
      out.writeBytes(new byte[] {'\r', '\n'});
    }
    if (!hasHost) {
      PeerInfo local = ctx.localPeer();
      out.writeBytes(("Host: " + local.host() + ":" + local.port() + "\r\n").getBytes(StandardCharsets.US_ASCII));
    }
    out.writeBytes("Connection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    return out.toByteArray();
  }

  /** ConnectionContext that only swaps the DataReader. */
  private record Ctx(ConnectionContext d, DataReader reader) implements ConnectionContext {
    @Override public ListenerContext listenerContext() { return d.listenerContext(); }
    @Override public ExecutorService executor() { return d.executor(); }
    @Override public DataWriter dataWriter() { return d.dataWriter(); }
    @Override public DataReader dataReader() { return reader; }
    @Override public Router router() { return d.router(); }
    @Override public Optional<ProxyProtocolData> proxyProtocolData() { return d.proxyProtocolData(); }
    @Override public HelidonSocket serverSocket() { return d.serverSocket(); }
    @Override public PeerInfo remotePeer() { return d.remotePeer(); }
    @Override public PeerInfo localPeer() { return d.localPeer(); }
    @Override public boolean isSecure() { return d.isSecure(); }
    @Override public String socketId() { return d.socketId(); }
    @Override public String childSocketId() { return d.childSocketId(); }
  }
}
