package io.keyward.spring;

import io.keyward.client.Edge;
import java.util.List;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configurers.AbstractHttpConfigurer;
import org.springframework.security.config.http.SessionCreationPolicy;

/**
 * What the starter configured (the provider, the key header, the checked routes), for a {@link
 * HttpSecurity}: {@link #configurer()} in an application's own chain, {@link #stateless} for a
 * chain of API routes.
 */
public final class KeywardSecurity {
  private final KeywardAuthenticationProvider provider;
  private final String keyHeader;
  private final List<Edge.Route> routes;

  public KeywardSecurity(KeywardAuthenticationProvider provider, String keyHeader,
      List<Edge.Route> routes) {
    this.provider = provider;
    this.keyHeader = Edge.keyHeader(keyHeader);
    this.routes = List.copyOf(routes);
  }

  /** A configurer adding Keyward to one chain: {@code http.with(keyward.configurer(), c -> {})}. */
  public KeywardConfigurer configurer() {
    return new KeywardConfigurer(provider, keyHeader, routes);
  }

  /**
   * {@code http} as an API behind API keys: Keyward's configurer, no session, no CSRF tokens (no
   * cookie authenticates, so none can be forged), no login form, HTTP Basic or logout, no saved
   * requests. The starter's default chain is this with every request permitted past Keyward's
   * routes.
   */
  public HttpSecurity stateless(HttpSecurity http) throws Exception {
    return http.with(configurer(), c -> {})
        .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
        .csrf(AbstractHttpConfigurer::disable)
        .formLogin(AbstractHttpConfigurer::disable)
        .httpBasic(AbstractHttpConfigurer::disable)
        .logout(AbstractHttpConfigurer::disable)
        .requestCache(AbstractHttpConfigurer::disable);
  }

  /** The routes Keyward protects, in order. */
  public List<Edge.Route> routes() {
    return routes;
  }

  public KeywardAuthenticationProvider provider() {
    return provider;
  }
}
