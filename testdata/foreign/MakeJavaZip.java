// Writes a ZIP with STORED entries using java.util.zip.ZipOutputStream.
// Usage: java MakeJavaZip.java OUT.zip BASE_DIR PATH...   (PATHs relative to BASE_DIR;
// directories are added recursively, each with its own "dir/" entry)
import java.io.*;
import java.nio.file.*;
import java.nio.file.attribute.FileTime;
import java.util.*;
import java.util.zip.*;

public class MakeJavaZip {
    static final FileTime MTIME = FileTime.fromMillis(1704067200000L); // 2024-01-01T00:00:00Z

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: MakeJavaZip OUT.zip BASE_DIR PATH...");
            System.exit(2);
        }
        Path base = Paths.get(args[1]);
        try (ZipOutputStream zos = new ZipOutputStream(new FileOutputStream(args[0]))) {
            zos.setMethod(ZipOutputStream.STORED);
            for (int i = 2; i < args.length; i++) {
                add(zos, base, Paths.get(args[i]));
            }
        }
    }

    static void add(ZipOutputStream zos, Path base, Path rel) throws IOException {
        Path p = base.resolve(rel);
        String name = rel.toString().replace(File.separatorChar, '/');
        if (Files.isDirectory(p)) {
            put(zos, name + "/", new byte[0]);
            List<Path> kids = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(p)) {
                for (Path k : ds) kids.add(rel.resolve(k.getFileName()));
            }
            Collections.sort(kids);
            for (Path k : kids) add(zos, base, k);
        } else {
            put(zos, name, Files.readAllBytes(p));
        }
    }

    static void put(ZipOutputStream zos, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        e.setCrc(crc.getValue());
        e.setLastModifiedTime(MTIME);
        zos.putNextEntry(e);
        zos.write(data);
        zos.closeEntry();
    }
}
