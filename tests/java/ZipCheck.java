// Third-party reader check with Java's java.util.zip.ZipFile (central-directory based).
//
// Usage (Java 11+ single-file source launch): java tests/java/ZipCheck.java ARCHIVE
//
// Opens ARCHIVE, reads every entry fully, recomputes its CRC-32 and size, and compares
// them with what the central directory says (ZipEntry.getCrc / getSize). ZipFile does
// not check the CRC of stored entries itself, so this program does. Prints
// `ok N entries` and exits 0 when every entry matches; otherwise prints each problem and
// exits 1.

import java.io.IOException;
import java.io.InputStream;
import java.util.Enumeration;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

public class ZipCheck {
    public static void main(String[] args) {
        if (args.length != 1) {
            System.out.println("usage: java ZipCheck.java ARCHIVE");
            System.exit(2);
        }
        int entries = 0;
        int problems = 0;
        byte[] buffer = new byte[1 << 20];
        try (ZipFile zip = new ZipFile(args[0])) {
            Enumeration<? extends ZipEntry> all = zip.entries();
            while (all.hasMoreElements()) {
                ZipEntry entry = all.nextElement();
                entries++;
                if (entry.isDirectory()) {
                    continue;
                }
                CRC32 crc = new CRC32();
                long size = 0;
                try (InputStream in = zip.getInputStream(entry)) {
                    int n;
                    while ((n = in.read(buffer)) != -1) {
                        crc.update(buffer, 0, n);
                        size += n;
                    }
                }
                if (crc.getValue() != entry.getCrc()) {
                    System.out.printf("%s: CRC-32 is %08x, central directory says %08x%n",
                            entry.getName(), crc.getValue(), entry.getCrc());
                    problems++;
                }
                if (size != entry.getSize()) {
                    System.out.printf("%s: read %d bytes, central directory says %d%n",
                            entry.getName(), size, entry.getSize());
                    problems++;
                }
            }
        } catch (IOException | RuntimeException e) {
            System.out.println(args[0] + ": " + e);
            System.exit(1);
        }
        if (problems > 0) {
            System.out.println(problems + " problems in " + entries + " entries");
            System.exit(1);
        }
        System.out.println("ok " + entries + " entries");
    }
}
