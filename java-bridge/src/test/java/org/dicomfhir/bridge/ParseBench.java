package org.dicomfhir.bridge;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Timing of the byte[] and direct-buffer paths. Off by default:
 * {@code mvn -pl java-bridge test -Dtest=ParseBench -Ddicomfhir.bench=true}
 * (surefire passes -D properties of the Maven command line to the forked JVM), or run
 * {@link #main} directly.
 */
class ParseBench {

    @Test
    void bench() {
        assumeTrue(Boolean.getBoolean("dicomfhir.bench"), "set -Ddicomfhir.bench=true");
        main(new String[0]);
    }

    public static void main(String[] args) {
        int rounds = Integer.getInteger("dicomfhir.bench.rounds", 7);
        for (String f : new String[] {TestData.CT_SMALL, TestData.RG1_UNCR}) {
            byte[] data = TestData.bytes(f);
            ByteBuffer direct = ByteBuffer.allocateDirect(data.length).put(data).flip();
            int perRound = data.length > 1_000_000 ? 40 : 400;
            Map<String, Supplier<Object>> variants = new LinkedHashMap<>();
            variants.put("sha256(byte[])", () -> DicomNative.sha256(data));
            variants.put("parse(byte[]) [JNI copy]", () -> DicomNative.parse(data, null));
            variants.put("parseDirect(preallocated direct)", () -> DicomNative.parseDirect(direct, null));
            variants.put("allocateDirect+put+parseDirect", () -> {
                ByteBuffer b = ByteBuffer.allocateDirect(data.length).put(data).flip();
                return DicomNative.parseDirect(b, null);
            });
            variants.put("DicomInstance.parse(byte[]) [+Jackson]", () -> DicomInstance.parse(data, null));
            Map<String, List<Double>> medians = new LinkedHashMap<>();
            for (Map.Entry<String, Supplier<Object>> v : variants.entrySet()) {
                try {
                    for (int i = 0; i < perRound; i++) v.getValue().get(); // warm-up
                    medians.put(v.getKey(), new ArrayList<>());
                } catch (RuntimeException e) {
                    System.out.println(v.getKey() + " -> " + e);
                }
            }
            // interleaved rounds: background load hits every variant alike
            for (int r = 0; r < rounds; r++) {
                for (Map.Entry<String, List<Double>> m : medians.entrySet()) {
                    m.getValue().add(medianMicros(perRound, variants.get(m.getKey())));
                }
            }
            System.out.printf("%s (%d bytes): per variant %d rounds x %d calls; best / median of the round medians%n",
                    f, data.length, rounds, perRound);
            for (Map.Entry<String, List<Double>> m : medians.entrySet()) {
                List<Double> l = m.getValue();
                Collections.sort(l);
                System.out.printf("  %-40s %9.1f µs  %9.1f µs%n", m.getKey(), l.get(0), l.get(l.size() / 2));
            }
        }
    }

    static double medianMicros(int n, Supplier<Object> call) {
        long[] ns = new long[n];
        for (int i = 0; i < n; i++) {
            long t = System.nanoTime();
            call.get();
            ns[i] = System.nanoTime() - t;
        }
        Arrays.sort(ns);
        return ns[n / 2] / 1e3;
    }
}
