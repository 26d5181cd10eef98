package io.keyward.server;

import io.keyward.cache.redis.RedisTierSettings;
import io.keyward.key.KeyFormat;
import io.keyward.store.postgres.DatabaseUrl;
import io.keyward.verify.VerifierSettings;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Everything a Keyward server is started with. Validated on construction, naming the bad value;
 * immutable after.
 *
 * @param databaseUrl an external PostgreSQL, or null for the embedded one under {@code dataDir}
 * @param migrateOnStart whether to apply pending schema migrations at start
 * @param maxBodyBytes the largest request body accepted (larger: 413)
 * @param maxInFlight the most requests served at once (more: 429)
 * @param redis the Redis second cache tier, or null to run without one
 * @param usage usage counting and export
 * @param earlierKeyPrefixes prefixes this deployment issued keys under before {@code keyPrefix};
 *     keys under them are judged by their checksum (a typo is MALFORMED without a lookup). Keys
 *     under unlisted earlier prefixes still verify and still call Keyward (by lookup).
 */
public record ServerSettings(
    String host,
    int port,
    Path dataDir,
    @Nullable DatabaseUrl databaseUrl,
    String keyPrefix,
    boolean migrateOnStart,
    VerifierSettings verifier,
    int maxBodyBytes,
    int maxInFlight,
    int maxDatabaseConnections,
    Clock clock,
    @Nullable RedisTierSettings redis,
    List<String> earlierKeyPrefixes,
    UsageSettings usage) {

  /** Largest request body by default: 64 KiB. */
  public static final int DEFAULT_MAX_BODY_BYTES = 64 * 1024;

  public ServerSettings {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("host must not be empty");
    }
    if (port < 0 || port > 65_535) {
      throw new IllegalArgumentException("port must be from 0 to 65535, got " + port);
    }
    Objects.requireNonNull(dataDir, "dataDir");
    if (keyPrefix == null || !KeyFormat.PREFIX_PATTERN.matcher(keyPrefix).matches()) {
      throw new IllegalArgumentException(
          "key prefix '" + keyPrefix + "' is invalid: use 2 to 16 lowercase letters and digits,"
              + " starting with a letter");
    }
    Objects.requireNonNull(verifier, "verifier");
    if (maxBodyBytes < 1024 || maxBodyBytes > 16 * 1024 * 1024) {
      throw new IllegalArgumentException(
          "max body size must be from 1024 bytes to 16 MiB, got " + maxBodyBytes);
    }
    if (maxInFlight < 1) {
      throw new IllegalArgumentException("max in-flight requests must be at least 1, got " + maxInFlight);
    }
    if (maxDatabaseConnections < 1 || maxDatabaseConnections > 1000) {
      throw new IllegalArgumentException(
          "max database connections must be from 1 to 1000, got " + maxDatabaseConnections);
    }
    Objects.requireNonNull(clock, "clock");
    earlierKeyPrefixes = List.copyOf(Objects.requireNonNull(earlierKeyPrefixes, "earlierKeyPrefixes"));
    for (String earlier : earlierKeyPrefixes) {
      if (!KeyFormat.PREFIX_PATTERN.matcher(earlier).matches()) {
        throw new IllegalArgumentException("earlier key prefix '" + earlier + "' is invalid: use 2"
            + " to 16 lowercase letters and digits, starting with a letter");
      }
    }
    Objects.requireNonNull(usage, "usage");
  }

  /** Defaults: 127.0.0.1:8080, {@code ./keyward-data}, embedded PostgreSQL, prefix {@code kw}. */
  public static ServerSettings defaults() {
    return new ServerSettings(
        "127.0.0.1", 8080, Path.of("keyward-data"), null, KeyFormat.DEFAULT_PREFIX, true,
        VerifierSettings.DEFAULTS, DEFAULT_MAX_BODY_BYTES, 4096, 16, Clock.systemUTC(), null,
        List.of(), UsageSettings.DEFAULTS);
  }

  public ServerSettings withPort(int value) {
    return new ServerSettings(host, value, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withDataDir(Path value) {
    return new ServerSettings(host, port, value, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withDatabaseUrl(@Nullable DatabaseUrl value) {
    return new ServerSettings(host, port, dataDir, value, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withVerifier(VerifierSettings value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        value, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withClock(Clock value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, value, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withRedis(@Nullable RedisTierSettings value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, value, earlierKeyPrefixes, usage);
  }

  public ServerSettings withMigrateOnStart(boolean value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, value,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withMaxInFlight(int value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, value, maxDatabaseConnections, clock, redis, earlierKeyPrefixes, usage);
  }

  public ServerSettings withUsage(UsageSettings value) {
    return new ServerSettings(host, port, dataDir, databaseUrl, keyPrefix, migrateOnStart,
        verifier, maxBodyBytes, maxInFlight, maxDatabaseConnections, clock, redis,
        earlierKeyPrefixes, value);
  }
}
