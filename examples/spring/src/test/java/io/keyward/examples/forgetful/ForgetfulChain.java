package io.keyward.examples.forgetful;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * An application's own chain that forgets Keyward's configurer (in a package of its own, so that
 * the example's component scan does not find it).
 */
@Configuration(proxyBeanMethods = false)
public class ForgetfulChain {
  @Bean
  SecurityFilterChain mine(HttpSecurity http) throws Exception {
    return http.authorizeHttpRequests(requests -> requests.anyRequest().permitAll()).build();
  }
}
