package io.keyward.key;

/**
 * What a key string is, as far as its text tells: a key in this deployment's format, a key from
 * another system (to be looked up by its hash, never rejected by shape), or malformed.
 *
 * <p>All instances are shared constants: {@link KeyFormat#parseAscii} allocates nothing.
 */
public sealed interface ParsedKey {

  /** A well-formed Keyward key: the prefix, environment, version, length and checksum all hold. */
  record Issued(Environment environment, int version) implements ParsedKey {}

  /**
   * A key not in the shape of any format version this build knows: imported from another system,
   * issued under a prefix the deployment used before, or of a newer format version. Only a lookup
   * by hash can decide it.
   */
  record Foreign() implements ParsedKey {}

  /** A key that cannot be valid, with the reason; decided without touching a cache or store. */
  record Malformed(MalformedReason reason) implements ParsedKey {}
}
