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
    return new App() {
      @Override
      public int port() {
        return ((WebServerApplicationContext) context).getWebServer().getPort();
      }

      @Override
      public boolean unsynced() {
        return verifier.isUnsynced();
      }

      @Override
      public long staleAllowed() {
        return verifier.stats().staleAllowed();
      }

      @Override
      public long openAllowed() {
        return verifier.stats().openAllowed();
      }

      @Override
      public void close() {
        context.close();
      }
    };
  }
}
