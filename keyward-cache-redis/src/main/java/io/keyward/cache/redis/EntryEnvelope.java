package io.keyward.cache.redis;

import io.keyward.key.Environment;
import io.keyward.key.KeyHash;
import io.keyward.key.KeyOrigin;
import io.keyward.key.KeyRecord;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The bytes of one Redis entry: a key record wrapped so that it defends itself (incident I-4).
 *
 * <pre>
 * offset  size  field
 *      0     4  magic "KWL2"
 *      4     1  envelope version (1)
 *      5     1  record schema version (1)
 *      6    32  SHA-256 of the key the record belongs to
 *     38     8  written at, epoch milliseconds (when the record was read from the store)
 *     46     4  payload length n
 *     50     n  payload: the record, schema version 1 (see writeRecord)
 *   50+n    16  HMAC-SHA256 of bytes [0, 50+n) under the deployment's signing key, first 16 bytes
 * </pre>
 *
 * The MAC makes an entry prove both that it is intact and that a Keyward node of this deployment
 * wrote it: someone who can write to Redis but does not hold the signing key (kept in the
 * database, see {@code ClusterSecrets}) cannot forge an entry that would make a key valid.
 *
 * Decoding is strict: anything that is not exactly this (wrong magic, length, checksum, version,
 * key hash, trailing bytes, an impossible field) is a {@link Decoded.Unusable} with its reason,
 * never an exception and never a record. Versions: a release reads its own envelope and record
 * versions and every older one it still lists in {@link #decode}; a newer version is {@link
 * CorruptionReason#NEWER_VERSION}, which the tier does not overwrite, so two releases can run side
 * by side during a deploy.
 */
public final class EntryEnvelope {
  static final byte[] MAGIC = {'K', 'W', 'L', '2'};
  /** The envelope version this release writes. */
  public static final int ENVELOPE_VERSION = 1;
  /** The record schema version this release writes. */
  public static final int RECORD_VERSION = 1;

  private static final int HEADER_BYTES = 50;
  private static final int CHECKSUM_BYTES = 16;
  /** Largest payload accepted; a record is a few hundred bytes, metadata at most ~24 KiB. */
  private static final int MAX_PAYLOAD_BYTES = 256 * 1024;

  private EntryEnvelope() {}

  /** What a stored value decodes to. */
  public sealed interface Decoded {
    /** A record for the asked-for key, and when it was read from the store. */
    record Usable(KeyRecord record, long writtenAtMillis) implements Decoded {}

    /** Not usable: a miss, for this reason. */
    record Unusable(CorruptionReason reason) implements Decoded {}
  }

  /** Encodes a record read from the store at {@code writtenAtMillis}, signed with {@code key}. */
  public static byte[] encode(KeyRecord record, long writtenAtMillis, SigningKey key) {
    return encode(record, writtenAtMillis, ENVELOPE_VERSION, RECORD_VERSION, key);
  }

  /** Encodes with explicit versions: for tests that play an older or newer release. */
  static byte[] encode(KeyRecord record, long writtenAtMillis, int envelopeVersion,
      int recordVersion, SigningKey key) {
    byte[] payload = writeRecord(record);
    ByteBuffer buffer = ByteBuffer.allocate(HEADER_BYTES + payload.length + CHECKSUM_BYTES);
    buffer.put(MAGIC).put((byte) envelopeVersion).put((byte) recordVersion);
    buffer.put(record.hash().toBytes());
    buffer.putLong(writtenAtMillis).putInt(payload.length).put(payload);
    buffer.put(key.mac(buffer.array(), buffer.position()), 0, CHECKSUM_BYTES);
    return buffer.array();
  }

  /** Decodes a value read for {@code expected}, checking it against {@code key}; total. */
  public static Decoded decode(byte @Nullable [] value, KeyHash expected, SigningKey key) {
    if (value == null || value.length == 0) {
      return unusable(CorruptionReason.EMPTY);
    }
    if (value.length < MAGIC.length || !startsWithMagic(value)) {
      return unusable(CorruptionReason.NOT_ENVELOPE);
    }
    if (value.length < HEADER_BYTES + CHECKSUM_BYTES) {
      return unusable(CorruptionReason.TRUNCATED);
    }
    ByteBuffer buffer = ByteBuffer.wrap(value);
    int envelopeVersion = buffer.get(4) & 0xFF;
    int recordVersion = buffer.get(5) & 0xFF;
    int payloadLength = buffer.getInt(46);
    if (payloadLength < 0 || payloadLength > MAX_PAYLOAD_BYTES) {
      return unusable(CorruptionReason.BAD_CHECKSUM);
    }
    long expectedLength = (long) HEADER_BYTES + payloadLength + CHECKSUM_BYTES;
    if (value.length < expectedLength) {
      return unusable(CorruptionReason.TRUNCATED);
    }
    if (value.length > expectedLength) {
      return unusable(CorruptionReason.BAD_CHECKSUM);
    }
    byte[] mac = key.mac(value, HEADER_BYTES + payloadLength);
    if (!java.security.MessageDigest.isEqual(
        java.util.Arrays.copyOf(mac, CHECKSUM_BYTES),
        java.util.Arrays.copyOfRange(value, HEADER_BYTES + payloadLength, value.length))) {
      return unusable(CorruptionReason.BAD_CHECKSUM);
    }
    // Versions are judged after the checksum, so a flipped version byte counts as damage.
    if (envelopeVersion > ENVELOPE_VERSION || recordVersion > RECORD_VERSION) {
      return unusable(CorruptionReason.NEWER_VERSION);
    }
    if (envelopeVersion < ENVELOPE_VERSION || recordVersion < RECORD_VERSION) {
      return unusable(CorruptionReason.OLDER_VERSION);
    }
    byte[] hashBytes = new byte[KeyHash.LENGTH_BYTES];
    buffer.get(6, hashBytes);
    if (!KeyHash.fromBytes(hashBytes).matchesInConstantTime(expected)) {
      return unusable(CorruptionReason.OTHER_KEY);
    }
    long writtenAt = buffer.getLong(38);
    KeyRecord record = readRecord(value, HEADER_BYTES, payloadLength, expected);
    if (record == null) {
      return unusable(CorruptionReason.BAD_RECORD);
    }
    return new Decoded.Usable(record, writtenAt);
  }

  private static final Decoded[] UNUSABLE = new Decoded[CorruptionReason.values().length];

  static {
    for (CorruptionReason reason : CorruptionReason.values()) {
      UNUSABLE[reason.ordinal()] = new Decoded.Unusable(reason);
    }
  }

  private static Decoded unusable(CorruptionReason reason) {
    return UNUSABLE[reason.ordinal()];
  }

  private static boolean startsWithMagic(byte[] value) {
    for (int i = 0; i < MAGIC.length; i++) {
      if (value[i] != MAGIC[i]) {
        return false;
      }
    }
    return true;
  }

  /** Record schema 1. Strings are modified UTF-8 (DataOutput.writeUTF); times are second + nano. */
  private static byte[] writeRecord(KeyRecord r) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(256 + r.metaJson().length());
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeUTF(r.keyId());
      writeNullable(out, r.hint());
      out.writeUTF(r.name());
      out.writeUTF(r.ownerId());
      out.writeShort(r.scopes().size());
      for (String scope : r.scopes()) {
        out.writeUTF(scope);
      }
      out.writeUTF(r.metaJson());
      out.writeUTF(r.environment().label());
      out.writeUTF(r.origin().name().toLowerCase(Locale.ROOT));
      writeInstant(out, r.createdAt());
      writeInstant(out, r.updatedAt());
      writeNullableInstant(out, r.expiresAt());
      writeNullableInstant(out, r.revokedAt());
      out.writeBoolean(r.enabled());
      writeNullable(out, r.rotatedFrom());
      out.writeLong(r.version());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode key record " + r.keyId(), e);
    }
    return bytes.toByteArray();
  }

  private static @Nullable KeyRecord readRecord(byte[] value, int offset, int length, KeyHash hash) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(value, offset, length))) {
      String keyId = in.readUTF();
      String hint = readNullable(in);
      String name = in.readUTF();
      String ownerId = in.readUTF();
      int scopeCount = in.readUnsignedShort();
      Set<String> scopes = new HashSet<>();
      for (int i = 0; i < scopeCount; i++) {
        scopes.add(in.readUTF());
      }
      String meta = in.readUTF();
      Environment environment = Environment.fromLabel(in.readUTF()).orElse(null);
      KeyOrigin origin = switch (in.readUTF()) {
        case "issued" -> KeyOrigin.ISSUED;
        case "imported" -> KeyOrigin.IMPORTED;
        default -> null;
      };
      Instant createdAt = readInstant(in);
      Instant updatedAt = readInstant(in);
      Instant expiresAt = readNullableInstant(in);
      Instant revokedAt = readNullableInstant(in);
      boolean enabled = in.readBoolean();
      String rotatedFrom = readNullable(in);
      long version = in.readLong();
      if (in.available() != 0 || environment == null || origin == null
          || scopes.size() != scopeCount || !io.keyward.key.KeyIds.isWellFormed(keyId)) {
        return null;
      }
      return new KeyRecord(keyId, hash, hint, name, ownerId, scopes, meta, environment, origin,
          createdAt, updatedAt, expiresAt, revokedAt, enabled, rotatedFrom, version);
    } catch (EOFException e) {
      return null;
    } catch (IOException | RuntimeException e) {
      // Malformed UTF, impossible instants, ...: an unusable record, not a crash.
      return null;
    }
  }

  private static void writeNullable(DataOutputStream out, @Nullable String value) throws IOException {
    out.writeBoolean(value != null);
    if (value != null) {
      out.writeUTF(value);
    }
  }

  private static @Nullable String readNullable(DataInputStream in) throws IOException {
    return in.readBoolean() ? in.readUTF() : null;
  }

  private static void writeInstant(DataOutputStream out, Instant value) throws IOException {
    out.writeLong(value.getEpochSecond());
    out.writeInt(value.getNano());
  }

  private static Instant readInstant(DataInputStream in) throws IOException {
    return Instant.ofEpochSecond(in.readLong(), in.readInt());
  }

  private static void writeNullableInstant(DataOutputStream out, @Nullable Instant value)
      throws IOException {
    out.writeBoolean(value != null);
    if (value != null) {
      writeInstant(out, value);
    }
  }

  private static @Nullable Instant readNullableInstant(DataInputStream in) throws IOException {
    return in.readBoolean() ? readInstant(in) : null;
  }
}
