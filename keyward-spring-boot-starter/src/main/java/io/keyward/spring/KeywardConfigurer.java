package io.keyward.spring;

import io.keyward.client.Edge;
import io.keyward.servlet.ServletEdge;
import java.util.List;
import org.springframework.security.authentication.ProviderManager;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configurers.AbstractHttpConfigurer;
import org.springframework.security.config.annotation.web.configurers.CsrfConfigurer;
import org.springframework.security.config.annotation.web.configurers.ExceptionHandlingConfigurer;
import org.springframework.security.web.authentication.AnonymousAuthenticationFilter;
import org.springframework.security.web.util.matcher.AnyRequestMatcher;

/**
 * Adds Keyward to an {@link HttpSecurity}: the {@link KeywardAuthenticationFilter} (before the
 * anonymous filter) with its own authentication manager over {@link
 * KeywardAuthenticationProvider}, {@link KeywardRefusals} as the default entry point and
 * access-denied handler, and no CSRF tokens asked on Keyward's routes (only the key header
 * authenticates there). In an application's own chain: {@code http.with(keyward.configurer(),
 * Customizer.withDefaults())}, {@code keyward} being the {@link KeywardSecurity} bean.
 */
public final class KeywardConfigurer extends AbstractHttpConfigurer<KeywardConfigurer, HttpSecurity> {
  private final KeywardAuthenticationProvider provider;
  private final String keyHeader;
  private final List<Edge.Route> routes;

  KeywardConfigurer(KeywardAuthenticationProvider provider, String keyHeader,
      List<Edge.Route> routes) {
    this.provider = provider;
    this.keyHeader = keyHeader;
    this.routes = routes;
  }

  @Override
  @SuppressWarnings("unchecked")
  public void init(HttpSecurity http) {
    ExceptionHandlingConfigurer<HttpSecurity> exceptions =
        http.getConfigurer(ExceptionHandlingConfigurer.class);
    if (exceptions != null) {
      KeywardRefusals refusals = new KeywardRefusals(getSecurityContextHolderStrategy());
      exceptions.defaultAuthenticationEntryPointFor(refusals, AnyRequestMatcher.INSTANCE);
      exceptions.defaultAccessDeniedHandlerFor(refusals, AnyRequestMatcher.INSTANCE);
    }
    // On Keyward's routes only the key header authenticates (no cookie, no session), so no
    // request there can be forged across sites: CSRF tokens would only refuse every POST.
    CsrfConfigurer<HttpSecurity> csrf = http.getConfigurer(CsrfConfigurer.class);
    if (csrf != null) {
      csrf.ignoringRequestMatchers(request -> ServletEdge.routeOf(request, routes) != null);
    }
  }

  @Override
  public void configure(HttpSecurity http) {
    ProviderManager manager = new ProviderManager(provider);
    http.addFilterBefore(new KeywardAuthenticationFilter(manager, keyHeader, routes,
        getSecurityContextHolderStrategy()), AnonymousAuthenticationFilter.class);
  }
}
