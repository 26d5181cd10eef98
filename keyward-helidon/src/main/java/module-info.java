/** A Helidon SE 4 filter putting Keyward in front of a Helidon application. */
module io.keyward.helidon {
  requires transitive io.keyward.client;
  requires transitive io.helidon.webserver;

  exports io.keyward.helidon;
}
