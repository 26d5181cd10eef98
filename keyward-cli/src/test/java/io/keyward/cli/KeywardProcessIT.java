package io.keyward.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./keyward} as a user or a supervisor runs it, as a real process: on the embedded
 * PostgreSQL it is durable (fsync on), restarts at the first try after {@code kill -9}, exits 0
 * on SIGTERM after reporting not-ready, exits with a clear message when its database dies, and
 * refuses a taken port, an unreachable database, a dead server and a typo in one line, exit 2.
 */
class KeywardProcessIT {
  private static final Path ROOT = Path.of(System.getProperty("user.dir")).getParent();
  /** Bound of each wait for a process (first start runs initdb): a hang guard, not a speed test. */
  private static final Duration WAIT = Duration.ofSeconds(120);
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @TempDir Path work;
  private final List<Process> started = new ArrayList<>();
  private int runs;

  @AfterEach
  void stopLeftovers() {
    for (Process process : started) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
    }
  }

  /** A started {@code ./keyward} with its output in files. */
  private record Run(Process process, Path out, Path err) {
    String stdout() throws IOException {
      return Files.readString(out);
    }

    String stderr() throws IOException {
      return Files.readString(err);
    }

    List<String> stderrLines() throws IOException {
      return Files.readAllLines(err).stream().filter(line -> !line.isBlank()).toList();
    }

    int exitCode() throws InterruptedException {
      assertThat(process.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)).as("process ended").isTrue();
      return process.exitValue();
    }
  }

  private Run keyward(String... args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(ROOT.resolve("keyward").toString());
    command.addAll(List.of(args));
    int run = ++runs;
    Path out = work.resolve("run" + run + ".out");
    Path err = work.resolve("run" + run + ".err");
    ProcessBuilder builder = new ProcessBuilder(command).directory(work.toFile())
        .redirectOutput(out.toFile()).redirectError(err.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
    builder.environment().put("KEYWARD_SKIP_BUILD", "1");
    builder.environment().remove("KEYWARD_DB_URL");
    Process process = builder.start();
    started.add(process);
    return new Run(process, out, err);
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static HttpResponse<String> get(int port, String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  private static HttpResponse<String> post(int port, String path, String bearer, String json)
      throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Authorization", "Bearer " + bearer).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(json)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static void await(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime() < deadline).as("waited for " + what).isTrue();
      Thread.sleep(100);
    }
  }

  private static void awaitReady(Run run, int port) throws InterruptedException {
    await(() -> {
      assertThat(run.process().isAlive()).as("keyward is running").isTrue();
      HttpResponse<String> ready = get(port, "/health/ready");
      return ready != null && ready.statusCode() == 200;
    }, "ready on port " + port);
  }

  private static List<String> postmasterPid(Path dataDir) throws IOException {
    return Files.readAllLines(dataDir.resolve("postgres").resolve("postmaster.pid"));
  }

  private static String setting(int postgresPort, String name) throws Exception {
    try (Connection connection = DriverManager.getConnection(
            "jdbc:postgresql://127.0.0.1:" + postgresPort + "/postgres?user=postgres");
        ResultSet rs = connection.createStatement().executeQuery("SHOW " + name)) {
      rs.next();
      return rs.getString(1);
    }
  }

  @Test
  void embeddedModeIsDurableRestartsAtTheFirstTryAfterKillNineAndStopsCleanlyOnSigterm()
      throws Exception {
    Path dataDir = work.resolve("data");
    int port = freePort();
    Run first = keyward("serve", "--port", String.valueOf(port), "--data-dir", dataDir.toString());
    awaitReady(first, port);

    String rootKey = Files.readString(dataDir.resolve("root.key")).strip();
    // Standard output is a file here, not a terminal: the secret is not printed, its file is.
    assertThat(first.stdout()).doesNotContain(rootKey).contains("root.key");
    int postgresPort = Integer.parseInt(postmasterPid(dataDir).get(3).strip());
    assertThat(setting(postgresPort, "fsync")).isEqualTo("on");
    assertThat(setting(postgresPort, "synchronous_commit")).isEqualTo("on");
    HttpResponse<String> created = post(port, "/v1/keys", rootKey, "{\"name\":\"n\",\"ownerId\":\"o\"}");
    assertThat(created.statusCode()).isEqualTo(201);
    String key = created.body().replaceAll(".*\"key\":\"([^\"]+)\".*", "$1");

    long orphan = Long.parseLong(postmasterPid(dataDir).get(0).strip());
    first.process().destroyForcibly(); // kill -9: its PostgreSQL lives on, holding the directory
    assertThat(first.exitCode()).isEqualTo(137);
    assertThat(ProcessHandle.of(orphan).map(ProcessHandle::isAlive)).contains(true);

    int secondPort = freePort();
    Run second = keyward("serve", "--port", String.valueOf(secondPort), "--data-dir",
        dataDir.toString(), "--shutdown-not-ready-ms", "1500");
    awaitReady(second, secondPort);
    assertThat(second.stderr()).contains("still running");
    HttpResponse<String> verified = post(secondPort, "/v1/keys/verify", rootKey,
        "{\"key\":\"" + key + "\"}");
    assertThat(verified.body()).contains("\"code\":\"VALID\"");

    second.process().destroy(); // SIGTERM
    await(() -> {
      HttpResponse<String> ready = get(secondPort, "/health/ready");
      return ready != null && ready.statusCode() == 503 && ready.body().contains("shutting down");
    }, "not ready while draining");
    assertThat(second.exitCode()).isZero();
    assertThat(second.stderr()).contains("Keyward stopped in");
    assertThat(second.stdout() + second.stderr()).doesNotContain(rootKey).doesNotContain(key);
  }

  @Test
  void embeddedDatabaseDyingWhileServingEndsTheProcessWithAClearMessage() throws Exception {
    Path dataDir = work.resolve("data");
    int port = freePort();
    Run run = keyward("serve", "--port", String.valueOf(port), "--data-dir", dataDir.toString());
    awaitReady(run, port);
    long postgres = Long.parseLong(postmasterPid(dataDir).get(0).strip());

    ProcessHandle.of(postgres).orElseThrow().destroyForcibly();

    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.stderr()).contains("keyward: the embedded PostgreSQL (pid " + postgres + ") stopped");
  }

  @Test
  void takenPortExitsTwoInOneLineAndCreatesNothing() throws Exception {
    Path dataDir = work.resolve("data");
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Run run = keyward("serve", "--port", String.valueOf(taken.getLocalPort()), "--data-dir",
          dataDir.toString());

      assertThat(run.exitCode()).isEqualTo(2);
      assertThat(run.stderrLines()).hasSize(1);
      assertThat(run.stderrLines().get(0)).startsWith("keyward: cannot listen on 127.0.0.1:"
          + taken.getLocalPort()).contains("in use");
      assertThat(run.stdout()).isEmpty();
      assertThat(dataDir).doesNotExist();
    }
  }

  @Test
  void unreachableDatabaseDeadServerAndTyposAreOneLineExitTwo() throws Exception {
    Run database = keyward("serve", "--port", String.valueOf(freePort()), "--data-dir",
        work.resolve("data").toString(), "--db-url", "jdbc:postgresql://127.0.0.1:1/keyward?user=k");
    Run server = keyward("keys", "list", "--url", "http://127.0.0.1:1", "--root-key", "kw_live_x");
    Run typo = keyward("serve", "--prot", "9000");
    Run badValue = keyward("serve", "--port", "70000", "--data-dir", work.resolve("d2").toString());

    assertThat(database.exitCode()).isEqualTo(2);
    assertThat(database.stderrLines()).last().asString()
        .startsWith("keyward: cannot reach the database at").contains("127.0.0.1:1");
    assertThat(database.stderrLines().stream().filter(l -> l.startsWith("\tat ")).count()).isZero();
    assertThat(server.exitCode()).isEqualTo(2);
    assertThat(server.stderrLines()).containsExactly(
        "keyward: cannot reach Keyward at http://127.0.0.1:1: connection refused (is the server"
            + " running? --url / KEYWARD_URL)");
    assertThat(typo.exitCode()).isEqualTo(2);
    assertThat(typo.stderrLines()).hasSizeLessThanOrEqualTo(2);
    assertThat(typo.stderrLines().get(0)).contains("--prot");
    assertThat(badValue.exitCode()).isEqualTo(2);
    assertThat(badValue.stderrLines()).containsExactly(
        "keyward: --port (KEYWARD_PORT) must be from 0 to 65535, got 70000");
  }
}
