package io.keyward.spring;

import io.keyward.client.KeywardVerifier;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * Keyward for a Spring Boot application, when {@code keyward.url} is set: a {@link
 * KeywardVerifier} from the {@code keyward.*} properties ({@link KeywardProperties}), a {@link
 * KeywardAuthenticationProvider} (whose presence also stops Boot from generating a user and
 * password), a {@link KeywardSecurity}, and, unless the application defines a {@link
 * SecurityFilterChain} of its own, a stateless chain that puts Keyward in front of its routes.
 *
 * <p>Settings are checked at start, naming the property that is wrong. An application with its
 * own chains must add {@link KeywardSecurity#configurer()} to the one that serves the routes:
 * with routes configured and no chain applying Keyward at all, the application refuses to start.
 * (Which chain serves which path is the application's matching: a chain without Keyward matched
 * first on a route's path serves it unprotected, and this check cannot see that.)
 */
@AutoConfiguration(beforeName = {
    "org.springframework.boot.security.autoconfigure.web.servlet.ServletWebSecurityAutoConfiguration",
    "org.springframework.boot.security.autoconfigure.UserDetailsServiceAutoConfiguration",
    "org.springframework.boot.security.autoconfigure.SecurityAutoConfiguration"})
@ConditionalOnProperty(prefix = "keyward", name = "url")
@EnableConfigurationProperties(KeywardProperties.class)
public class KeywardAutoConfiguration {

  @Bean(destroyMethod = "close")
  @ConditionalOnMissingBean
  public KeywardVerifier keywardVerifier(KeywardProperties properties) {
    return properties.verifier().build();
  }

  @Bean
  @ConditionalOnMissingBean
  public KeywardAuthenticationProvider keywardAuthenticationProvider(KeywardVerifier verifier) {
    return new KeywardAuthenticationProvider(verifier);
  }

  @Bean
  @ConditionalOnMissingBean
  public KeywardSecurity keywardSecurity(KeywardProperties properties,
      KeywardAuthenticationProvider provider) {
    KeywardSecurity security = new KeywardSecurity(provider, properties.checkedKeyHeader(),
        properties.edgeRoutes(provider.verifier()));
    if (security.routes().isEmpty()) {
      org.apache.commons.logging.LogFactory.getLog(KeywardAutoConfiguration.class).warn(
          "keyward.url is set but keyward.routes is empty: Keyward protects no path");
    }
    return security;
  }

  /**
   * Refuses to start when routes are configured and no chain applies Keyward (an application
   * that defined its own chain and forgot Keyward's configurer would otherwise serve them open).
   */
  @Bean
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
  public SmartInitializingSingleton keywardRoutesAreApplied(KeywardSecurity keyward,
      ObjectProvider<SecurityFilterChain> chains) {
    return () -> {
      if (keyward.routes().isEmpty()) {
        return;
      }
      List<SecurityFilterChain> all = chains.orderedStream().toList();
      boolean applied = all.stream().flatMap(chain -> chain.getFilters().stream())
          .anyMatch(KeywardAuthenticationFilter.class::isInstance);
      if (!applied) {
        throw new IllegalStateException("keyward.routes are configured but no SecurityFilterChain"
            + " applies Keyward: add http.with(keywardSecurity.configurer(), c -> {}) to your"
            + " chain, or remove your SecurityFilterChain to use the starter's");
      }
    };
  }

  /** The starter's chain, when the application has none. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
  @ConditionalOnMissingBean(SecurityFilterChain.class)
  static class DefaultChain {
    @Bean
    SecurityFilterChain keywardSecurityFilterChain(HttpSecurity http, KeywardSecurity keyward)
        throws Exception {
      return keyward.stateless(http)
          .authorizeHttpRequests(requests -> requests.anyRequest().permitAll())
          .build();
    }
  }
}
