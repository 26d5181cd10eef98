package io.keyward.spring;

import io.keyward.client.Edge;
import java.util.Collection;
import java.util.List;
import org.springframework.security.authentication.AbstractAuthenticationToken;
import org.springframework.security.core.GrantedAuthority;
import org.springframework.security.core.authority.SimpleGrantedAuthority;

/**
 * An API key on its way to {@link KeywardAuthenticationProvider} (unauthenticated: the key and
 * the route it was presented on), and what comes back (authenticated: a {@link KeywardPrincipal}
 * with one {@code SCOPE_<scope>} authority per scope of the key, and no credentials). The key
 * never appears in {@link #toString()}.
 */
public final class KeywardAuthenticationToken extends AbstractAuthenticationToken {
  private static final long serialVersionUID = 1L;

  private transient String key;
  private final transient Edge.Route route;
  private final KeywardPrincipal principal;

  private KeywardAuthenticationToken(String key, Edge.Route route) {
    super(List.of());
    this.key = key;
    this.route = route;
    this.principal = null;
  }

  private KeywardAuthenticationToken(KeywardPrincipal principal,
      Collection<? extends GrantedAuthority> authorities) {
    super(authorities);
    this.key = null;
    this.route = null;
    this.principal = principal;
    super.setAuthenticated(true);
  }

  /** A key to verify for {@code route} (its scopes and failure policy). */
  public static KeywardAuthenticationToken unauthenticated(String key, Edge.Route route) {
    return new KeywardAuthenticationToken(key, route);
  }

  /** An allowed key. */
  public static KeywardAuthenticationToken authenticated(KeywardPrincipal principal) {
    return new KeywardAuthenticationToken(principal, principal.scopes().stream().sorted()
        .map(scope -> new SimpleGrantedAuthority("SCOPE_" + scope)).toList());
  }

  /** The key (unauthenticated tokens only; null once erased or authenticated). */
  @Override
  public String getCredentials() {
    return key;
  }

  /** The {@link KeywardPrincipal} (authenticated tokens), else null. */
  @Override
  public KeywardPrincipal getPrincipal() {
    return principal;
  }

  /** The route the key was presented on (unauthenticated tokens), else null. */
  public Edge.Route route() {
    return route;
  }

  @Override
  public void setAuthenticated(boolean authenticated) {
    if (authenticated) {
      throw new IllegalArgumentException("only KeywardAuthenticationProvider authenticates a key");
    }
    super.setAuthenticated(false);
  }

  @Override
  public void eraseCredentials() {
    super.eraseCredentials();
    key = null;
  }

  @Override
  public String toString() {
    return principal == null ? "KeywardAuthenticationToken[unauthenticated]"
        : "KeywardAuthenticationToken[keyId=" + principal.keyId() + ", basis=" + principal.basis()
            + ", authorities=" + getAuthorities() + "]";
  }

  @Override
  public boolean equals(Object other) {
    return this == other;
  }

  @Override
  public int hashCode() {
    return System.identityHashCode(this);
  }
}
