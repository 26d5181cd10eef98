package io.keyward.spring;

import io.keyward.client.Decision;
import org.springframework.security.authentication.AuthenticationServiceException;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.core.AuthenticationException;

/**
 * Keyward's refusals as Spring Security expects them: {@link Denied} (a {@link
 * BadCredentialsException}, carrying the server's code) and {@link Unavailable} (an {@link
 * AuthenticationServiceException}: Keyward could not be asked, which is never a bad credential).
 * They are expected outcomes, so they carry no stack trace.
 */
public final class KeywardAuthenticationException {
  private KeywardAuthenticationException() {}

  /** The key is not valid, or lacks a scope the route needs. */
  public static final class Denied extends BadCredentialsException {
    private static final long serialVersionUID = 1L;
    private final transient Decision.Denied decision;

    public Denied(Decision.Denied decision) {
      super("API key refused: " + decision.code());
      this.decision = decision;
    }

    public Decision.Denied decision() {
      return decision;
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }

  /** Keyward could not be asked and the route's policy gave no answer without it: a 503. */
  public static final class Unavailable extends AuthenticationServiceException {
    private static final long serialVersionUID = 1L;
    private final transient Decision.CannotDecide decision;

    public Unavailable(Decision.CannotDecide decision) {
      super("Keyward cannot decide: " + decision.reason());
      this.decision = decision;
    }

    public Decision.CannotDecide decision() {
      return decision;
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }

  /** The decision behind {@code e}: Keyward's, or a plain denial for another provider's refusal. */
  static Decision decisionOf(AuthenticationException e) {
    if (e instanceof Denied denied) {
      return denied.decision();
    }
    if (e instanceof Unavailable unavailable) {
      return unavailable.decision();
    }
    return new Decision.Denied("REJECTED");
  }
}
