package io.keyward.benchmarks;

import io.keyward.key.Environment;
import io.keyward.key.KeyFormat;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyIds;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import io.keyward.key.MalformedReason;
import io.keyward.key.ParsedKey;
import io.keyward.verify.VerifierSettings;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;

/** Keys and records for the benchmarks, made the way the service makes them. */
final class Fixtures {
  /** The deployment prefix the benchmarks run under. */
  static final String PREFIX = KeyFormat.DEFAULT_PREFIX;

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final KeyIds IDS = new KeyIds(Clock.systemUTC(), RANDOM);

  /** Longer than any run: nothing a benchmark cached expires or goes stale while it measures. */
  static final Duration NEVER_DURING_A_RUN = Duration.ofHours(12);

  private Fixtures() {}

  /** The verifier's defaults with every cached answer kept for the whole run. */
  static VerifierSettings cachedForTheRun() {
    return VerifierSettings.DEFAULTS.withStaleFor(NEVER_DURING_A_RUN)
        .withFreshFor(NEVER_DURING_A_RUN).withNotFoundFor(NEVER_DURING_A_RUN);
  }

  static KeyFormat format() {
    return KeyFormat.withPrefix(PREFIX, RANDOM);
  }

  /** {@code count} distinct live keys of the current format. */
  static String[] keys(KeyFormat format, int count) {
    String[] keys = new String[count];
    for (int i = 0; i < count; i++) {
      keys[i] = format.generate(Environment.LIVE);
    }
    return keys;
  }

  /** An enabled, unexpired, unrevoked record of {@code key} with two scopes. */
  static KeyRecord record(String key) {
    return record(key, "{\"team\":\"benchmarks\"}");
  }

  /** As {@link #record(String)}, with the given metadata JSON. */
  static KeyRecord record(String key, String metaJson) {
    Instant now = Instant.now();
    return new KeyRecord(
        IDS.next(),
        KeyHash.of(key),
        key.substring(0, PREFIX.length() + "_live_".length() + 4),
        "benchmark key",
        "owner_benchmark",
        Set.of("keys:read", "orders:write"),
        metaJson,
        Environment.LIVE,
        KeyOrigin.ISSUED,
        now,
        now,
        null,
        null,
        true,
        null,
        1);
  }

  /**
   * {@code key} with one body character (in the random part, not the checksum) replaced by another
   * base62 digit, so that it keeps the prefix, environment, version and length but fails the
   * checksum.
   */
  static String withBadChecksum(KeyFormat format, String key, int salt) {
    int bodyStart = PREFIX.length() + "_live_".length();
    int position = bodyStart + 1 + Math.floorMod(salt, KeyFormat.CURRENT.randomDigits());
    char[] chars = key.toCharArray();
    char original = chars[position];
    chars[position] = original == 'x' ? 'y' : 'x';
    String changed = new String(chars);
    ParsedKey parsed = format.parse(changed);
    if (!(parsed instanceof ParsedKey.Malformed m) || m.reason() != MalformedReason.BAD_CHECKSUM) {
      throw new IllegalStateException("expected a bad checksum, parsed as " + parsed);
    }
    return changed;
  }
}
