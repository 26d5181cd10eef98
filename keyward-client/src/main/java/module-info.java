/**
 * Keyward's verifier for services: {@link io.keyward.client.KeywardVerifier}. The JDK and Caffeine
 * only.
 */
module io.keyward.client {
  requires java.net.http;
  requires com.github.benmanes.caffeine;

  exports io.keyward.client;
}
