package io.keyward.key;

/** Why a key string cannot be a valid key. */
public enum MalformedReason {
  /** No key, or an empty one. */
  EMPTY,
  /** Longer than {@link KeyFormat#MAX_KEY_LENGTH_CHARS}. */
  TOO_LONG,
  /** A character outside printable ASCII (0x21..0x7E), such as a space or a control byte. */
  ILLEGAL_CHARACTER,
  /** Has the deployment's prefix but neither {@code _live_} nor {@code _test_} after it. */
  UNKNOWN_ENVIRONMENT,
  /** The body starts with a format version this build does not know. */
  UNKNOWN_VERSION,
  /** The body is not the length its version prescribes. */
  WRONG_LENGTH,
  /** The body holds a character that is not a base62 digit. */
  NOT_BASE62,
  /** The checksum does not match: a typo, a truncated copy or a made-up key. */
  BAD_CHECKSUM;

  private final ParsedKey.Malformed result = new ParsedKey.Malformed(this);

  /** The shared parse result for this reason. */
  public ParsedKey.Malformed asResult() {
    return result;
  }
}
