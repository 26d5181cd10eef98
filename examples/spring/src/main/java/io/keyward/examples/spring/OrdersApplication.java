package io.keyward.examples.spring;

import io.keyward.spring.KeywardPrincipal;
import jakarta.servlet.http.HttpServletRequest;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.http.MediaType;
import org.springframework.security.access.prepost.PreAuthorize;
import org.springframework.security.config.annotation.method.configuration.EnableMethodSecurity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A small orders API on Spring Boot, behind keyward-spring-boot-starter. The routes and their
 * failure policies are settings ({@code application.properties}):
 *
 * <ul>
 *   <li>{@code /api/orders}: needs {@code orders:read}; when Keyward cannot be asked, keys seen
 *       VALID in the last 5 minutes still pass ({@code stale-ok:5m}), marked; creating an order
 *       ({@code POST}) also needs {@code orders:write}, checked by Spring Security on the key's
 *       {@code SCOPE_} authorities;
 *   <li>{@code /api/payments}: needs {@code payments:write}; closed (503 when Keyward cannot be
 *       asked);
 *   <li>{@code /api/status}: any valid key; open (passes when Keyward cannot be asked, marked);
 *   <li>{@code /health}: no key.
 * </ul>
 *
 * Each protected answer names the key's id and owner and says whether the decision was degraded.
 * {@code examples/spring/run.sh} starts it against a running {@code ./keyward serve}.
 */
@SpringBootApplication
@EnableMethodSecurity
public class OrdersApplication {

  public static void main(String[] args) {
    SpringApplication.run(OrdersApplication.class, args);
  }

  /** Answers with who Keyward said the caller is. */
  @RestController
  static class Api {
    @PostMapping(path = "/api/orders", produces = MediaType.APPLICATION_JSON_VALUE)
    @PreAuthorize("hasAuthority('SCOPE_orders:write')")
    String create(@AuthenticationPrincipal KeywardPrincipal caller, HttpServletRequest request) {
      return identity(caller, request);
    }

    @RequestMapping(path = "/api/**", produces = MediaType.APPLICATION_JSON_VALUE)
    String api(@AuthenticationPrincipal KeywardPrincipal caller, HttpServletRequest request) {
      return identity(caller, request);
    }

    @GetMapping(path = "/health", produces = MediaType.APPLICATION_JSON_VALUE)
    String health() {
      return "{\"status\":\"UP\"}\n";
    }

    private static String identity(KeywardPrincipal caller, HttpServletRequest request) {
      return "{\"path\":\"" + request.getRequestURI().replace("\"", "") + "\",\"keyId\":\""
          + caller.keyId() + "\",\"ownerId\":\"" + caller.ownerId().replace("\"", "")
          + "\",\"basis\":\"" + caller.basis() + "\",\"degraded\":" + caller.degraded() + "}\n";
    }
  }
}
