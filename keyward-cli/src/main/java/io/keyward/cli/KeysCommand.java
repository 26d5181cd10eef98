package io.keyward.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.keyward.client.admin.KeywardClient;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Key administration against a running server's admin API. */
@Command(name = "keys", mixinStandardHelpOptions = true,
    description = "Manage keys on a running Keyward server.",
    subcommands = {KeysCommand.Create.class, KeysCommand.ListKeys.class, KeysCommand.Get.class,
        KeysCommand.Revoke.class, KeysCommand.Rotate.class, KeysCommand.Import.class})
final class KeysCommand {
  private static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** Where the server is and how to authenticate. */
  static final class Connection {
    @Option(names = "--url", defaultValue = "${env:KEYWARD_URL:-http://127.0.0.1:8080}",
        description = "Server URL (env KEYWARD_URL; default: ${DEFAULT-VALUE}).")
    URI url;

    @Option(names = "--root-key", defaultValue = "${env:KEYWARD_ROOT_KEY}",
        description = "Root key (env KEYWARD_ROOT_KEY; default: read <data-dir>/root.key).")
    String rootKey;

    @Option(names = "--data-dir", defaultValue = "${env:KEYWARD_DATA_DIR:-keyward-data}",
        description = "Where to find root.key when no root key is given (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    KeywardClient client() {
      String key = rootKey;
      if (key == null || key.isBlank()) {
        Path file = dataDir.resolve("root.key");
        try {
          key = Files.readString(file, StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
          throw new IllegalArgumentException("no root key: give --root-key, set KEYWARD_ROOT_KEY,"
              + " or point --data-dir at a directory with root.key (" + file + ": " + e + ")");
        }
      }
      return new KeywardClient(url, key, Duration.ofSeconds(10));
    }
  }

  /** Prints the response; exit 0 on success, 1 on an HTTP error. */
  static int print(KeywardClient.Response response, CommandSpec spec) {
    try {
      String text = MAPPER.writeValueAsString(response.body());
      if (response.isSuccess()) {
        spec.commandLine().getOut().println(text);
        spec.commandLine().getOut().flush();
        return 0;
      }
      spec.commandLine().getErr().println("HTTP " + response.status() + ": " + text);
      spec.commandLine().getErr().flush();
      return 1;
    } catch (IOException e) {
      throw new IllegalStateException("cannot print response: " + e.getMessage(), e);
    }
  }

  /** Attributes shared by create and import. */
  static final class Attributes {
    @Option(names = "--name", required = true, description = "Name of the key.")
    String name;

    @Option(names = "--owner", required = true, description = "Owner id (your customer).")
    String ownerId;

    @Option(names = "--scope", description = "A scope; repeat for several.")
    List<String> scopes = List.of();

    @Option(names = "--expires-at", description = "Expiry, RFC 3339 (e.g. 2030-01-31T00:00:00Z).")
    String expiresAt;

    @Option(names = "--meta", description = "Metadata, a JSON object.")
    String meta;

    @Option(names = "--env", defaultValue = "live", description = "live or test (default: ${DEFAULT-VALUE}).")
    String environment;

    Map<String, Object> toMap() {
      Map<String, Object> body = new LinkedHashMap<>();
      body.put("name", name);
      body.put("ownerId", ownerId);
      body.put("scopes", scopes);
      body.put("environment", environment);
      if (expiresAt != null) {
        body.put("expiresAt", expiresAt);
      }
      if (meta != null) {
        try {
          body.put("meta", MAPPER.readTree(meta));
        } catch (IOException e) {
          throw new IllegalArgumentException("--meta is not valid JSON: " + e.getMessage());
        }
      }
      return body;
    }
  }

  @Command(name = "create", mixinStandardHelpOptions = true, description = "Issue a new key; prints it once.")
  static final class Create implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;
    @Mixin Attributes attributes;

    @Override
    public Integer call() {
      return print(connection.client().createKey(attributes.toMap()), spec);
    }
  }

  @Command(name = "import", mixinStandardHelpOptions = true,
      description = "Import a key from another system by the SHA-256 of its text.")
  static final class Import implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;
    @Mixin Attributes attributes;

    @Option(names = "--sha256", required = true, description = "SHA-256 of the key, 64 hex digits.")
    String sha256;

    @Override
    public Integer call() {
      Map<String, Object> body = attributes.toMap();
      body.put("sha256", sha256);
      return print(connection.client().importKey(body), spec);
    }
  }

  @Command(name = "list", mixinStandardHelpOptions = true, description = "List keys, a page at a time.")
  static final class ListKeys implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;

    @Option(names = "--owner", description = "Only this owner's keys.")
    String ownerId;

    @Option(names = "--limit", description = "Keys per page (1-1000).")
    Integer limit;

    @Option(names = "--cursor", description = "nextCursor of the previous page.")
    String cursor;

    @Override
    public Integer call() {
      return print(connection.client().listKeys(ownerId, limit, cursor), spec);
    }
  }

  @Command(name = "get", mixinStandardHelpOptions = true, description = "Show a key (never its secret).")
  static final class Get implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "KEY_ID") String keyId;

    @Override
    public Integer call() {
      return print(connection.client().getKey(keyId), spec);
    }
  }

  @Command(name = "revoke", mixinStandardHelpOptions = true, description = "Revoke a key (idempotent).")
  static final class Revoke implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "KEY_ID") String keyId;

    @Override
    public Integer call() {
      return print(connection.client().revokeKey(keyId), spec);
    }
  }

  @Command(name = "rotate", mixinStandardHelpOptions = true,
      description = "Issue a successor; the old key works for the grace period.")
  static final class Rotate implements Callable<Integer> {
    @Mixin Connection connection;
    @Spec CommandSpec spec;

    @Parameters(paramLabel = "KEY_ID") String keyId;

    @Option(names = "--grace-seconds", description = "How long the old key keeps working (default: server's, 3600).")
    Long graceSeconds;

    @Override
    public Integer call() {
      return print(connection.client().rotateKey(keyId, graceSeconds), spec);
    }
  }

}
