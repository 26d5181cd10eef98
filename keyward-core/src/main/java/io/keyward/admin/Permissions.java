package io.keyward.admin;

import io.keyward.key.KeyRecord;

/** The scopes that give a key power over Keyward itself. */
public final class Permissions {
  /** Everything: manage keys and verify. A root key holds it. */
  public static final String ADMIN = "keyward:admin";

  /** Only call the verify endpoint: for the services that check their callers' keys. */
  public static final String VERIFY = "keyward:verify";

  private Permissions() {}

  /** Whether {@code key} may manage keys. */
  public static boolean mayAdminister(KeyRecord key) {
    return key.scopes().contains(ADMIN);
  }

  /** Whether {@code key} may call verify. */
  public static boolean mayVerify(KeyRecord key) {
    return key.scopes().contains(ADMIN) || key.scopes().contains(VERIFY);
  }
}
