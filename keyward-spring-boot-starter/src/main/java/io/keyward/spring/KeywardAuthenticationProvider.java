package io.keyward.spring;

import io.keyward.client.Decision;
import io.keyward.client.FailurePolicy;
import io.keyward.client.KeywardVerifier;
import java.util.List;
import java.util.Objects;
import org.springframework.security.authentication.AuthenticationProvider;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.AuthenticationException;

/**
 * Authenticates a {@link KeywardAuthenticationToken} with {@link KeywardVerifier}: the key is
 * verified for the token's route (its scopes and failure policy; no route: no scopes, closed).
 * Allowed gives an authenticated token with a {@link KeywardPrincipal}; denied throws {@link
 * KeywardAuthenticationException.Denied}; cannot decide throws {@link
 * KeywardAuthenticationException.Unavailable}, which the starter's filter answers with 503, never
 * 401.
 */
public final class KeywardAuthenticationProvider implements AuthenticationProvider {
  private final KeywardVerifier verifier;

  public KeywardAuthenticationProvider(KeywardVerifier verifier) {
    this.verifier = Objects.requireNonNull(verifier, "verifier");
  }

  @Override
  public Authentication authenticate(Authentication authentication)
      throws AuthenticationException {
    KeywardAuthenticationToken token = (KeywardAuthenticationToken) authentication;
    String key = token.getCredentials();
    if (key == null || key.isEmpty()) {
      throw new KeywardAuthenticationException.Denied(new Decision.Denied("MISSING"));
    }
    Decision decision = token.route() == null
        ? verifier.verify(key, List.of(), FailurePolicy.closed())
        : verifier.verify(key, token.route().scopes(), token.route().policy());
    return switch (decision) {
      case Decision.Allowed allowed ->
          KeywardAuthenticationToken.authenticated(KeywardPrincipal.of(allowed));
      case Decision.Denied denied -> throw new KeywardAuthenticationException.Denied(denied);
      case Decision.CannotDecide cannot ->
          throw new KeywardAuthenticationException.Unavailable(cannot);
    };
  }

  @Override
  public boolean supports(Class<?> authentication) {
    return KeywardAuthenticationToken.class.isAssignableFrom(authentication);
  }

  /** The verifier asked (its {@code stats()} count stale and open decisions). */
  public KeywardVerifier verifier() {
    return verifier;
  }
}
