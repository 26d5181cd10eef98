package io.keyward.examples.servlet;

import io.keyward.server.testing.EdgeAdapterContract;
import java.net.URI;

/** KeywardFilter (keyward-servlet) through the example application, a real Jetty: {@link EdgeAdapterContract}. */
class KeywardFilterTest extends EdgeAdapterContract {
  @Override
  protected App start(URI keyward, String verifyKey) throws Exception {
    OrdersApp app = new OrdersApp("127.0.0.1", 0, keyward, verifyKey);
    return new App() {
      @Override
      public int port() {
        return app.port();
      }

      @Override
      public boolean unsynced() {
        return app.verifier().isUnsynced();
      }

      @Override
      public long staleAllowed() {
        return app.verifier().stats().staleAllowed();
      }

      @Override
      public long openAllowed() {
        return app.verifier().stats().openAllowed();
      }

      @Override
      public void close() throws Exception {
        app.close();
      }
    };
  }
}
