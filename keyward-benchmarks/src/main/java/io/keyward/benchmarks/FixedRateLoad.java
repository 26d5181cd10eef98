package io.keyward.benchmarks;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-loop load generator for {@code POST /v1/keys/verify}: requests are sent at a fixed rate
 * whatever the server does, and each latency is measured from the moment its request was due, not
 * from when it was sent (the correction for coordinated omission that wrk2 makes). A closed-loop
 * tool such as wrk, at saturation, measures how CPU is shared more than how long an answer takes:
 * any background work shows in its tail. Below saturation at a fixed rate, a stall of the server
 * shows as every request that was due during it, as a client would see it.
 *
 * <p>Each connection is one thread with one request in flight (HTTP/1.1 keep-alive); connection
 * {@code i} sends request {@code j} at {@code start + (j * connections + i) / rate}. A connection
 * that falls behind sends at once until it has caught up.
 *
 * <pre>
 * java -cp keyward-benchmarks/target/benchmarks.jar io.keyward.benchmarks.FixedRateLoad \
 *     URL[,URL...] ROOT_KEY KEYS_FILE RATE CONNECTIONS SECONDS
 * </pre>
 *
 * <p>With several URLs (comma-separated), each gets its own CONNECTIONS at the full RATE, all on
 * one schedule with the same keys: a paired run, whose targets share whatever else the machine
 * is doing at each moment. It prints one line per URL, prefixed {@code target=<url> }.
 *
 * It prints one line: {@code rate=<sent/s> p50=<ms> p90=<ms> p99=<ms> p99.9=<ms> max=<ms>
 * errors=<n> behind=<ms>}, where errors are answers other than 200 and failed connections, and
 * behind is how far the last request was sent after it was due (a generator that cannot keep
 * up shows here, not as server latency).
 */
public final class FixedRateLoad {
  private FixedRateLoad() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: FixedRateLoad URL[,URL...] ROOT_KEY KEYS_FILE RATE CONNECTIONS"
          + " SECONDS");
      System.exit(2);
    }
    List<URI> urls = Arrays.stream(args[0].split(",")).map(URI::create).toList();
    String root = args[1];
    List<String> keys = Files.readAllLines(Path.of(args[2])).stream()
        .filter(line -> !line.isBlank()).toList();
    double rate = Double.parseDouble(args[3]);
    int connections = Integer.parseInt(args[4]);
    double seconds = Double.parseDouble(args[5]);
    if (keys.isEmpty() || rate <= 0 || connections < 1 || seconds <= 0) {
      System.err.println("FixedRateLoad: need keys, a positive rate, connections and seconds");
      System.exit(2);
    }
    long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
    List<Target> targets = urls.stream()
        .map(url -> new Target(url, keys, root, rate, connections, seconds)).toList();
    List<Thread> threads = new java.util.ArrayList<>();
    for (Target target : targets) {
      threads.addAll(target.start(start));
    }
    for (Thread thread : threads) {
      thread.join();
    }
    for (Target target : targets) {
      System.out.println((targets.size() > 1 ? "target=" + target.url + " " : "")
          + target.summary(start));
    }
  }

  /**
   * One URL's connections, at the full rate each. With several URLs the targets are driven at
   * once on the same schedule and the same random keys (request {@code j} of connection {@code
   * i} is due at the same moment for every target): a paired comparison, in which whatever else
   * the machine does at a moment hits every target alike.
   */
  private static final class Target {
    final URI url;
    final byte[][] requests;
    final double rate;
    final int connections;
    final long intervalNanos;
    final int perConnection;
    final long[][] latencies;
    final int[] done;
    final AtomicLong errors = new AtomicLong();
    final AtomicLong behind = new AtomicLong();
    /** When this target's last answer came: its rate is over its own span, not the run's. */
    final AtomicLong finished = new AtomicLong();

    Target(URI url, List<String> keys, String root, double rate, int connections,
        double seconds) {
      this.url = url;
      this.rate = rate;
      this.connections = connections;
      this.intervalNanos = (long) (connections * 1e9 / rate);
      this.perConnection = (int) Math.ceil(rate * seconds / connections);
      this.requests = new byte[keys.size()][];
      for (int i = 0; i < keys.size(); i++) {
        String body = "{\"key\":\"" + keys.get(i) + "\"}";
        requests[i] = ("POST " + url.getRawPath() + " HTTP/1.1\r\nHost: " + url.getHost() + ":"
            + url.getPort() + "\r\nAuthorization: Bearer " + root
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
            .getBytes(StandardCharsets.UTF_8);
      }
      this.latencies = new long[connections][perConnection];
      this.done = new int[connections];
    }

    List<Thread> start(long start) {
      List<Thread> threads = new java.util.ArrayList<>();
      for (int c = 0; c < connections; c++) {
        int id = c;
        threads.add(Thread.ofPlatform().name("load-" + url.getPort() + "-" + c)
            .start(() -> run(id, start)));
      }
      return threads;
    }

    private void run(int id, long start) {
      SplittableRandom random = new SplittableRandom(0x9E3779B97F4A7C15L * (id + 1));
      long offset = start + (long) (id * 1e9 / rate);
      Socket socket = null;
      InputStream in = null;
      OutputStream out = null;
      for (int j = 0; j < perConnection; j++) {
        long due = offset + j * intervalNanos;
        long wait;
        while ((wait = due - System.nanoTime()) > 0) {
          LockSupport.parkNanos(wait);
        }
        try {
          if (socket == null) {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(url.getHost(), url.getPort()), 5_000);
            socket.setSoTimeout(10_000);
            in = new BufferedInputStream(socket.getInputStream(), 8192);
            out = socket.getOutputStream();
          }
          out.write(requests[random.nextInt(requests.length)]);
          out.flush();
          if (readResponse(in) != 200) {
            errors.incrementAndGet();
          }
        } catch (IOException | RuntimeException e) {
          // A failed exchange (or an answer this reader cannot parse) is an error, and the
          // connection starts again: the thread never dies with requests still due, which
          // would hide them from the latencies.
          errors.incrementAndGet();
          closeQuietly(socket);
          socket = null;
        }
        latencies[id][j] = System.nanoTime() - due;
        done[id] = j + 1;
      }
      long end = System.nanoTime();
      behind.accumulateAndGet(end - (offset + (perConnection - 1) * intervalNanos), Math::max);
      finished.accumulateAndGet(end, Math::max);
      closeQuietly(socket);
    }

    String summary(long start) {
      long elapsed = finished.get() - start;
      int total = Arrays.stream(done).sum();
      long[] all = new long[total];
      int at = 0;
      for (int c = 0; c < connections; c++) {
        System.arraycopy(latencies[c], 0, all, at, done[c]);
        at += done[c];
      }
      Arrays.sort(all);
      return String.format("rate=%.0f p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f errors=%d"
              + " behind=%.1f", total / (elapsed / 1e9), ms(all, 0.50), ms(all, 0.90),
          ms(all, 0.99), ms(all, 0.999), all[all.length - 1] / 1e6, errors.get(),
          behind.get() / 1e6);
    }
  }

  private static double ms(long[] sorted, double quantile) {
    int index = (int) Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1);
    return sorted[Math.max(0, index)] / 1e6;
  }

  /** Reads one HTTP/1.1 response with a Content-Length body; returns its status. */
  private static int readResponse(InputStream in) throws IOException {
    int status = -1;
    int contentLength = 0;
    StringBuilder line = new StringBuilder(128);
    while (true) {
      line.setLength(0);
      int b;
      while ((b = in.read()) != '\n') {
        if (b < 0) {
          throw new IOException("connection closed");
        }
        if (b != '\r') {
          line.append((char) b);
        }
      }
      if (line.isEmpty()) {
        break;
      }
      if (status < 0) {
        status = Integer.parseInt(line.substring(9, 12));
      } else if (line.length() > 15
          && line.substring(0, 15).equalsIgnoreCase("content-length:")) {
        contentLength = Integer.parseInt(line.substring(15).trim());
      }
    }
    long skipped = 0;
    while (skipped < contentLength) {
      long n = in.skip(contentLength - skipped);
      if (n <= 0) {
        if (in.read() < 0) {
          throw new IOException("connection closed in a body");
        }
        n = 1;
      }
      skipped += n;
    }
    return status;
  }

  private static void closeQuietly(Socket socket) {
    if (socket != null) {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing a broken connection
      }
    }
  }
}
