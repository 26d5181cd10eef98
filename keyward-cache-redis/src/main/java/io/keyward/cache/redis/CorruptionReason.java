package io.keyward.cache.redis;

import java.util.Locale;

/** Why a Redis entry could not be used; each is a miss, counted in {@code cache_l2_corrupt_total}. */
public enum CorruptionReason {
  /** The value is empty. */
  EMPTY,
  /** Not an envelope at all: no magic bytes, or too short to hold one. */
  NOT_ENVELOPE,
  /** Shorter than its header says: cut off. */
  TRUNCATED,
  /**
   * The keyed checksum (HMAC) does not match: bytes changed after writing, or the entry was not
   * written by a node holding this deployment's signing key.
   */
  BAD_CHECKSUM,
  /** An envelope or record version older than this release reads (and not one it can convert). */
  OLDER_VERSION,
  /** An envelope or record version newer than this release: left alone for the newer release. */
  NEWER_VERSION,
  /** A valid envelope, but for another key hash than the one asked for. */
  OTHER_KEY,
  /** The envelope is intact but its record does not decode. */
  BAD_RECORD,
  /** The Redis key holds another type (a hash, a list, ...), not a string. */
  WRONG_TYPE;

  /** The metric tag value: {@code bad_checksum}. */
  public String tag() {
    return name().toLowerCase(Locale.ROOT);
  }
}
