package io.keyward.spring;

import io.keyward.client.Decision;
import io.keyward.client.Edge;
import io.keyward.servlet.ServletEdge;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import org.springframework.security.access.AccessDeniedException;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.security.core.context.SecurityContextHolderStrategy;
import org.springframework.security.web.AuthenticationEntryPoint;
import org.springframework.security.web.access.AccessDeniedHandler;

/**
 * The chain's answers where its authorization rules refuse a request, in Keyward's shape: no
 * authentication at all is a 401 with {@code Bearer realm="keyward"} (or a 503 when Keyward could
 * not decide), an authority the key lacks ({@code hasAuthority("SCOPE_orders:write")}) a 403 with
 * {@code error="insufficient_scope"}. Neither is ever a login page or a 500. A request let
 * through by an {@code open} route while Keyward could not be asked carries no scopes: refused by
 * an authority rule, it is a 503 (cannot decide), not a 403.
 */
public final class KeywardRefusals implements AuthenticationEntryPoint, AccessDeniedHandler {
  private final SecurityContextHolderStrategy contexts;

  public KeywardRefusals() {
    this(SecurityContextHolder.getContextHolderStrategy());
  }

  public KeywardRefusals(SecurityContextHolderStrategy contexts) {
    this.contexts = contexts;
  }

  @Override
  public void commence(HttpServletRequest request, HttpServletResponse response,
      AuthenticationException e) throws IOException {
    // Keyward's own refusals as they were; anything else (no authentication at all) is no key.
    Decision decision = e instanceof KeywardAuthenticationException.Denied
        || e instanceof KeywardAuthenticationException.Unavailable
        ? KeywardAuthenticationException.decisionOf(e) : new Decision.Denied("MISSING");
    ServletEdge.refuse(response, Edge.refusal(decision, List.of()));
  }

  @Override
  public void handle(HttpServletRequest request, HttpServletResponse response,
      AccessDeniedException e) throws IOException {
    Authentication current = contexts.getContext().getAuthentication();
    if (current != null && current.getPrincipal() instanceof KeywardPrincipal principal
        && principal.basis() == Decision.Basis.OPEN) {
      ServletEdge.refuse(response, Edge.refusal(new Decision.CannotDecide("open"), List.of()));
      return;
    }
    ServletEdge.refuse(response, new Edge.Refusal(403, "FORBIDDEN",
        "the API key may not do this", Edge.REALM + ", error=\"insufficient_scope\"", false));
  }
}
