package io.keyward.examples.ownchain;

import io.keyward.spring.KeywardSecurity;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * An application's own chain with Keyward's configurer only: Spring Security's defaults stay
 * (CSRF protection, sessions), and a path outside Keyward's routes needs an authority (in a
 * package of its own, so that the example's component scan does not find it).
 */
@Configuration(proxyBeanMethods = false)
public class OwnChain {
  @Bean
  SecurityFilterChain mine(HttpSecurity http, KeywardSecurity keyward) throws Exception {
    return http.with(keyward.configurer(), c -> {})
        .authorizeHttpRequests(requests -> requests
            .requestMatchers("/health").permitAll()
            .anyRequest().authenticated())
        .build();
  }
}
