package io.keyward.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The entry format: round trips, and every kind of damage is an unusable entry, never a record. */
class EntryEnvelopeTest {
  static final KeyHash HASH = KeyHash.of("kw_live_envelope-test");
  static final SigningKey KEY = RedisTestSupport.SIGNING_KEY;

  static KeyRecord record(KeyHash hash) {
    Instant at = Instant.parse("2030-01-02T03:04:05.123456Z");
    return new KeyRecord("key_03FTCvhZw4D0YPzz2iS3RV", hash, "kw_live_1abc", "naïve ✓ name",
        "owner-7", Set.of("read", "write:all"), "{\"plan\": \"pro\", \"note\": \"é\"}",
        Environment.LIVE, KeyOrigin.ISSUED, at, at.plusSeconds(5), at.plusSeconds(3600), null,
        true, "key_03FTCvha8bY1RckCQU4y3D", 7);
  }

  @Test
  void recordRoundTripsWithItsLoadTime() {
    KeyRecord record = record(HASH);

    var decoded = EntryEnvelope.decode(EntryEnvelope.encode(record, 1_234L, KEY), HASH, KEY);

    assertThat(decoded).isEqualTo(new EntryEnvelope.Decoded.Usable(record, 1_234L));
  }

  @Test
  void recordWithEveryOptionalFieldEmptyRoundTrips() {
    Instant at = Instant.parse("2030-01-01T00:00:00Z");
    KeyRecord record = new KeyRecord("key_03FTCvhZw4D0YPzz2iS3RV", HASH, null, "n", "o", Set.of(),
        "{}", Environment.TEST, KeyOrigin.IMPORTED, at, at, null, at, false, null, 1);

    assertThat(EntryEnvelope.decode(EntryEnvelope.encode(record, 0, KEY), HASH, KEY))
        .isEqualTo(new EntryEnvelope.Decoded.Usable(record, 0));
  }

  @Test
  void everySingleByteChangeIsDetected() {
    byte[] good = EntryEnvelope.encode(record(HASH), 99, KEY);
    for (int i = 0; i < good.length; i++) {
      for (int bit = 0; bit < 8; bit++) {
        byte[] bad = good.clone();
        bad[i] ^= (byte) (1 << bit);
        assertThat(EntryEnvelope.decode(bad, HASH, KEY)).as("byte %d bit %d", i, bit)
            .isInstanceOf(EntryEnvelope.Decoded.Unusable.class);
      }
    }
  }

  @Test
  void everyTruncationIsUnusable() {
    byte[] good = EntryEnvelope.encode(record(HASH), 99, KEY);
    for (int length = 0; length < good.length; length++) {
      byte[] cut = java.util.Arrays.copyOf(good, length);
      assertThat(EntryEnvelope.decode(cut, HASH, KEY)).as("length %d", length)
          .isInstanceOf(EntryEnvelope.Decoded.Unusable.class);
    }
    assertThat(reason(java.util.Arrays.copyOf(good, good.length - 1))).isEqualTo(CorruptionReason.TRUNCATED);
  }

  @Test
  void eachKindOfDamageHasItsReason() {
    byte[] good = EntryEnvelope.encode(record(HASH), 99, KEY);
    byte[] flipped = good.clone();
    flipped[60] ^= 1;
    byte[] trailing = java.util.Arrays.copyOf(good, good.length + 3);

    assertThat(reason(new byte[0])).isEqualTo(CorruptionReason.EMPTY);
    assertThat(reason(null)).isEqualTo(CorruptionReason.EMPTY);
    assertThat(reason("{\"valid\":true}".getBytes(StandardCharsets.UTF_8)))
        .isEqualTo(CorruptionReason.NOT_ENVELOPE);
    assertThat(reason(flipped)).isEqualTo(CorruptionReason.BAD_CHECKSUM);
    assertThat(reason(trailing)).isEqualTo(CorruptionReason.BAD_CHECKSUM);
    assertThat(reason(java.util.Arrays.copyOf(good, 30))).isEqualTo(CorruptionReason.TRUNCATED);
    assertThat(EntryEnvelope.decode(good, KeyHash.of("another key"), KEY))
        .isEqualTo(new EntryEnvelope.Decoded.Unusable(CorruptionReason.OTHER_KEY));
    assertThat(reason(EntryEnvelope.encode(record(HASH), 1, 0, 1, KEY))).isEqualTo(CorruptionReason.OLDER_VERSION);
    assertThat(reason(EntryEnvelope.encode(record(HASH), 1, 2, 1, KEY))).isEqualTo(CorruptionReason.NEWER_VERSION);
    assertThat(reason(EntryEnvelope.encode(record(HASH), 1, 1, 2, KEY))).isEqualTo(CorruptionReason.NEWER_VERSION);
  }

  @Test
  void entryWrittenWithoutTheDeploymentsSigningKeyIsRejected() {
    // Someone who can write to Redis but lacks the key: a well-formed entry that would make a key
    // valid (with an admin scope, say) must still be refused.
    SigningKey attackers = SigningKey.of(new byte[SigningKey.LENGTH_BYTES]);
    byte[] forged = EntryEnvelope.encode(record(HASH), 99, attackers);

    assertThat(EntryEnvelope.decode(forged, HASH, KEY))
        .isEqualTo(new EntryEnvelope.Decoded.Unusable(CorruptionReason.BAD_CHECKSUM));
  }

  @Test
  void randomBytesAreNeverARecord() {
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < 20_000; i++) {
      byte[] junk = new byte[random.nextInt(400)];
      random.nextBytes(junk);
      if (i % 2 == 0 && junk.length > 4) {
        System.arraycopy(EntryEnvelope.MAGIC, 0, junk, 0, 4); // magic right, rest garbage
      }
      assertThat(EntryEnvelope.decode(junk, HASH, KEY)).isInstanceOf(EntryEnvelope.Decoded.Unusable.class);
    }
  }

  /**
   * The envelope as release 0.1.0 (envelope 1, record 1) wrote it, kept byte for byte: every later
   * release must still read it, or treat it as a miss. Never regenerate this file.
   */
  @Test
  void envelopeWrittenByRelease010StillDecodes() throws Exception {
    byte[] sample;
    try (InputStream in = getClass().getResourceAsStream("/envelopes/v1-record-v1.hex")) {
      sample = HexFormat.of().parseHex(new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip());
    }

    assertThat(EntryEnvelope.decode(sample, HASH, KEY))
        .isEqualTo(new EntryEnvelope.Decoded.Usable(record(HASH), 1_893_456_000_000L));
  }

  private static CorruptionReason reason(byte[] value) {
    return ((EntryEnvelope.Decoded.Unusable) EntryEnvelope.decode(value, HASH, KEY)).reason();
  }
}
