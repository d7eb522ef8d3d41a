package org.medkg.neo4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;
import org.neo4j.kernel.impl.security.User;
import org.neo4j.logging.Level;
import org.neo4j.logging.NullLogProvider;
import org.neo4j.logging.log4j.Log4jLogProvider;
import org.neo4j.memory.EmptyMemoryTracker;
import org.neo4j.server.security.SecureHasher;
import org.neo4j.server.security.SystemGraphCredential;
import org.neo4j.server.security.auth.CommunitySecurityModule;
import org.neo4j.server.security.auth.FileUserRepository;

/**
 * medkg's development/test Neo4j server: an embedded Neo4j 5.26 Community DBMS with the Bolt
 * connector enabled and authentication on.
 *
 * <pre>
 *   NEO4J_PASSWORD=secret java -Xmx1g -jar target/medkg-neo4j.jar --data-dir DIR [--host 127.0.0.1] [--port 7687]
 * </pre>
 *
 * The password of user {@code neo4j} is read from the environment (never from the command line,
 * where {@code ps} would show it). On a fresh data directory it is written as the initial
 * credential before the system database exists, exactly what {@code neo4j-admin dbms
 * set-initial-password} does, so the server never accepts the default neo4j/neo4j. On an existing
 * data directory the password is (re)set with {@code ALTER USER} on the system database, so the
 * environment always decides. SIGTERM/SIGINT shut the DBMS down cleanly (shutdown hook).
 * Prints one line {@code MEDKG_NEO4J_READY bolt://host:port} on stdout once Bolt is listening;
 * {@code --pid-file} makes the JVM write its own pid (removed again on clean shutdown).
 */
public final class Launcher {
    private static final String USER = "neo4j";

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Path dataDir = null;
        String host = "127.0.0.1";
        int port = 7687;
        String passwordEnv = "NEO4J_PASSWORD";
        Path pidFile = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--data-dir" -> dataDir = Path.of(value(args, ++i, a));
                case "--host" -> host = value(args, ++i, a);
                case "--port" -> port = Integer.parseInt(value(args, ++i, a));
                case "--password-env" -> passwordEnv = value(args, ++i, a);
                case "--pid-file" -> pidFile = Path.of(value(args, ++i, a));
                case "-h", "--help" -> {
                    System.out.println("usage: NEO4J_PASSWORD=... java -jar medkg-neo4j.jar --data-dir DIR"
                            + " [--host 127.0.0.1] [--port 7687] [--password-env NEO4J_PASSWORD] [--pid-file FILE]");
                    return;
                }
                default -> fail("unknown argument " + a);
            }
        }
        if (dataDir == null) {
            fail("--data-dir is required");
        }
        String password = System.getenv(passwordEnv);
        if (password == null || password.isEmpty()) {
            fail("environment variable " + passwordEnv + " must hold the password for user neo4j");
        }
        if (password.codePoints().count() < 8) {
            fail("the password in " + passwordEnv + " is too short: Neo4j requires at least 8 characters");
        }
        Path home = dataDir.toAbsolutePath().normalize();
        Files.createDirectories(home);
        // Written by the JVM itself so the pid is the server's, whatever wrapper started it.
        Path pidPath = pidFile == null ? null : pidFile.toAbsolutePath();
        if (pidPath != null) {
            Files.writeString(pidPath, ProcessHandle.current().pid() + "\n");
        }

        // The system database records users; if it does not exist yet, this is a first start.
        boolean fresh = !Files.exists(home.resolve("data").resolve("databases").resolve("system"));
        if (fresh) {
            writeInitialPassword(home, password);
        }

        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(GraphDatabaseSettings.udc_enabled, false)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                    .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                    .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                    // Bolt waits 2 x 5 s for idle threads/connections on shutdown by default.
                    .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                    .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                    // A test/dev server: modest page cache, and do not keep days of transaction logs.
                    .setConfig(GraphDatabaseSettings.pagecache_memory, 256L * 1024 * 1024)
                    .setConfig(GraphDatabaseSettings.keep_logical_logs, "1 files")
                    .build();
        } catch (RuntimeException e) {
            // e.g. the Bolt port is taken: say so on one line for scripts/neo4j.sh, and exit non-zero.
            System.out.println("MEDKG_NEO4J_FAILED " + rootMessage(e));
            System.out.flush();
            if (pidPath != null) {
                Files.deleteIfExists(pidPath);
            }
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("MEDKG_NEO4J_STOPPING");
            System.out.flush();
            try {
                dbms.shutdown();
            } finally {
                if (pidPath != null) {
                    try {
                        Files.deleteIfExists(pidPath);
                    } catch (IOException ignored) {
                        // the wrapper script treats a stale pid file as "not running"
                    }
                }
                System.out.println("MEDKG_NEO4J_STOPPED");
                System.out.flush();
                stopped.countDown();
            }
        }, "medkg-neo4j-shutdown"));

        if (!fresh) {
            setPassword(dbms, password);
        }
        System.out.println("MEDKG_NEO4J_READY bolt://" + host + ":" + port);
        System.out.flush();
        stopped.await();
    }

    /** The equivalent of {@code neo4j-admin dbms set-initial-password}: data/dbms/auth.ini. */
    private static void writeInitialPassword(Path home, String password) throws IOException {
        Config config = Config.newBuilder().set(GraphDatabaseSettings.neo4j_home, home).build();
        Path file = CommunitySecurityModule.getInitialUserRepositoryFile(config);
        Files.createDirectories(file.getParent());
        Files.deleteIfExists(file);
        try (DefaultFileSystemAbstraction fs = new DefaultFileSystemAbstraction()) {
            FileUserRepository repo =
                    new FileUserRepository(fs, file, NullLogProvider.getInstance(), EmptyMemoryTracker.INSTANCE);
            repo.start();
            SystemGraphCredential credential = SystemGraphCredential.createCredentialForPassword(
                    password.getBytes(StandardCharsets.UTF_8), new SecureHasher());
            repo.create(new User(USER, null, credential, false, false));
            repo.shutdown();
        } catch (Exception e) {
            throw new IOException("cannot write the initial password file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Set the neo4j user's password on an existing DBMS (no-op when it is already that password). */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        try {
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED", Map.of("password", password));
        } catch (QueryExecutionException e) {
            // Neo4j refuses to "change" a password to the one already set: that is the state we want.
            if (e.getMessage() == null || !e.getMessage().contains("Old password and new password cannot be the same")) {
                throw e;
            }
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            fail(flag + " needs a value");
        }
        return args[i];
    }

    private static void fail(String message) {
        System.err.println("medkg-neo4j: " + message);
        System.exit(2);
    }
}
