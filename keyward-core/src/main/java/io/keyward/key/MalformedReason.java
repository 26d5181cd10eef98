package io.keyward.key;

/**
 * Why a key string cannot be a valid key. Deliberately few: only what no system's key can be, and
 * a Keyward-shaped key whose checksum fails. Everything else is decided by lookup.
 */
public enum MalformedReason {
  /** No key, or an empty one. */
  EMPTY,
  /** Longer than {@link KeyFormat#MAX_KEY_LENGTH_CHARS}. */
  TOO_LONG,
  /** A character outside printable ASCII (0x21..0x7E), such as a space or a control byte. */
  ILLEGAL_CHARACTER,
  /**
   * Has the exact shape of a Keyward key but the checksum does not match: a typo, a mangled copy
   * or a made-up key.
   */
  BAD_CHECKSUM;

  private final ParsedKey.Malformed result = new ParsedKey.Malformed(this);

  /** The shared parse result for this reason. */
  public ParsedKey.Malformed asResult() {
    return result;
  }
}
