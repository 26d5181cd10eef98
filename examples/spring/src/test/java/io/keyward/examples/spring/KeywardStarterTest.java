package io.keyward.examples.spring;

import io.keyward.client.KeywardVerifier;
import io.keyward.server.testing.EdgeAdapterContract;
import java.net.URI;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * keyward-spring-boot-starter through the example application, a real Spring Boot (Tomcat,
 * Spring Security) configured only by its {@code application.properties}: {@link
 * EdgeAdapterContract}.
 */
class KeywardStarterTest extends EdgeAdapterContract {
  static ConfigurableApplicationContext run(URI keyward, String verifyKey, String... more) {
    // As arguments: they take precedence over application.properties (defaults would not).
    String[] args = new String[3 + more.length];
    args[0] = "--server.port=0";
    args[1] = "--keyward.url=" + keyward;
    args[2] = "--keyward.verify-key=" + verifyKey;
    for (int i = 0; i < more.length; i++) {
      args[3 + i] = "--" + more[i];
    }
    return new SpringApplicationBuilder(OrdersApplication.class).run(args);
  }

  @Override
  protected App start(URI keyward, String verifyKey) {
    ConfigurableApplicationContext context = run(keyward, verifyKey);
    KeywardVerifier verifier = context.getBean(KeywardVerifier.class);
    return App.of(() -> ((WebServerApplicationContext) context).getWebServer().getPort(),
        verifier::isUnsynced, () -> verifier.stats().staleAllowed(),
        () -> verifier.stats().openAllowed(), context::close);
  }
}
