package org.dicomfhir.hapi;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The plugin's packages depend on each other one way only, in the order of package-info.java and
 * docs/architecture.md: each uses only the packages before it. Read from the sources (imports and
 * fully qualified names in code; comments do not count), so a new edge fails here, not in review.
 */
class PackageDependenciesTest {

	private static final String BASE = "org.dicomfhir.hapi";
	private static final List<String> ORDER = List.of(
			BASE + ".config", BASE + ".lookup", BASE + ".smart", BASE + ".studywrite", BASE + ".access", BASE + ".ingest", BASE + ".dicomweb", BASE + ".status", BASE);
	private static final String SMART = BASE + ".smart";
	private static final Path SOURCES = Path.of("src/main/java/org/dicomfhir/hapi");
	private static final Pattern COMMENT_OR_TEXT =
			Pattern.compile("\"\"\"[\\s\\S]*?\"\"\"|\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\])+'|/\\*[\\s\\S]*?\\*/|//[^\\n]*");
	private static final Pattern REFERENCE = Pattern.compile("\\b(org\\.dicomfhir\\.hapi(?:\\.[a-z]\\w*)*)\\.[A-Z]");

	@Test
	void everyPackageUsesOnlyThePackagesBeforeIt() throws IOException {
		List<Path> files;
		try (Stream<Path> walk = Files.walk(SOURCES)) {
			files = walk.filter(p -> p.toString().endsWith(".java")).toList();
		}
		assertThat(files).as("sources under " + SOURCES.toAbsolutePath()).hasSizeGreaterThan(30);

		List<String> violations = new ArrayList<>();
		for (Path file : files) {
			String from = BASE + (file.getParent().equals(SOURCES) ? ""
					: "." + SOURCES.relativize(file.getParent()).toString().replace('/', '.'));
			assertThat(ORDER).as("package %s of %s is in the order", from, file).contains(from);
			String code = COMMENT_OR_TEXT.matcher(Files.readString(file, StandardCharsets.UTF_8)).replaceAll(" ");
			Matcher m = REFERENCE.matcher(code);
			while (m.find()) {
				String to = m.group(1);
				if (!to.equals(from) && ORDER.indexOf(to) >= ORDER.indexOf(from)) {
					violations.add(file.getFileName() + ": " + from + " -> " + to);
				}
				// tokens are wired in by the root only: the rest of the plugin works the same with SMART off
				if (to.equals(SMART) && !from.equals(SMART) && !from.equals(BASE)) {
					violations.add(file.getFileName() + ": " + from + " -> " + to + " (only the root wiring may use it)");
				}
			}
		}
		assertThat(violations).isEmpty();
	}
}
