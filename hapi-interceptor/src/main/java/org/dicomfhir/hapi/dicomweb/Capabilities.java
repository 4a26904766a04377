package org.dicomfhir.hapi.dicomweb;

import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * {@code OPTIONS <service root>}: the capabilities of the facade (PS3.18 §8.9, Annex H) as WADL
 * ({@code application/vnd.sun.wadl+xml}, the standard's default representation): every resource
 * with its methods, query parameters and response media types.
 */
final class Capabilities {

	private Capabilities() {}

	private static final String DICOM_JSON = "application/dicom+json";
	private static final String MULTIPART_DICOM = "multipart/related; type=\"application/dicom\"";
	private static final String MULTIPART_OCTET = "multipart/related; type=\"application/octet-stream\"";

	static void write(DicomWebRequest theRequest) throws IOException {
		byte[] body = wadl(theRequest.serviceBase()).getBytes(StandardCharsets.UTF_8);
		HttpServletResponse response = theRequest.servletResponse();
		response.setStatus(200);
		response.setHeader("Allow", "GET, HEAD, POST, DELETE, OPTIONS");
		response.setContentType("application/vnd.sun.wadl+xml; charset=utf-8");
		response.setContentLength(body.length);
		if ("HEAD".equals(theRequest.servletRequest().getMethod())) {
			return;
		}
		try (OutputStream out = response.getOutputStream()) {
			out.write(body);
		}
	}

	static String wadl(String theBase) {
		StringBuilder b = new StringBuilder();
		b.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
				.append("<application xmlns=\"http://wadl.dev.java.net/2009/02\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n")
				.append("  <doc title=\"dicom-fhir DICOMweb Studies Service\">QIDO-RS, WADO-RS, STOW-RS and DELETE over a HAPI FHIR store."
						+ " Instances are served as stored (transfer-syntax=*; no transcoding); rendered images and thumbnails as image/jpeg or image/png.</doc>\n")
				.append("  <resources base=\"").append(xml(theBase)).append("/\">\n");
		// WADO-URI (PS3.18 §9) at the service root: the stored instance or a rendered image
		b.append("    <resource path=\"\">\n")
				.append("      <method name=\"GET\" id=\"WADO-URI\">\n        <request>\n");
		for (String p : new String[] {"requestType", "studyUID", "seriesUID", "objectUID"}) {
			b.append("          <param name=\"").append(p).append("\" style=\"query\" type=\"xs:string\" required=\"true\"/>\n");
		}
		for (String p : new String[] {"contentType", "transferSyntax", "frameNumber", "windowCenter", "windowWidth", "rows", "columns",
				"imageQuality"}) {
			b.append("          <param name=\"").append(p).append("\" style=\"query\" type=\"xs:string\"/>\n");
		}
		b.append("        </request>\n        <response status=\"200\"><representation mediaType=\"application/dicom\"/>"
						+ "<representation mediaType=\"image/jpeg\"/><representation mediaType=\"image/png\"/></response>\n")
				.append("      </method>\n    </resource>\n");
		// QIDO at the three roots
		for (String level : new String[] {"studies", "series", "instances"}) {
			b.append("    <resource path=\"").append(level).append("\">\n");
			qido(b, "      ");
			if ("studies".equals(level)) {
				stow(b, "      ");
				studyTree(b);
			}
			b.append("    </resource>\n");
		}
		b.append("  </resources>\n</application>\n");
		return b.toString();
	}

	private static void studyTree(StringBuilder b) {
		b.append("      <resource path=\"{StudyInstanceUID}\">\n");
		b.append("        <param name=\"StudyInstanceUID\" style=\"template\" type=\"xs:string\"/>\n");
		retrieve(b, "        ", true);
		stow(b, "        ");
		b.append("        <resource path=\"thumbnail\">\n");
		method(b, "          ", "GET", "image/jpeg", "image/png");
		b.append("        </resource>\n");
		b.append("        <resource path=\"metadata\">\n");
		method(b, "          ", "GET", DICOM_JSON);
		b.append("        </resource>\n");
		b.append("        <resource path=\"series\">\n");
		qido(b, "          ");
		b.append("        </resource>\n");
		b.append("        <resource path=\"instances\">\n");
		qido(b, "          ");
		b.append("        </resource>\n");
		b.append("        <resource path=\"series/{SeriesInstanceUID}\">\n");
		b.append("          <param name=\"SeriesInstanceUID\" style=\"template\" type=\"xs:string\"/>\n");
		retrieve(b, "          ", true);
		b.append("          <resource path=\"thumbnail\">\n");
		method(b, "            ", "GET", "image/jpeg", "image/png");
		b.append("          </resource>\n");
		b.append("          <resource path=\"metadata\">\n");
		method(b, "            ", "GET", DICOM_JSON);
		b.append("          </resource>\n");
		b.append("          <resource path=\"instances\">\n");
		qido(b, "            ");
		b.append("          </resource>\n");
		b.append("          <resource path=\"instances/{SOPInstanceUID}\">\n");
		b.append("            <param name=\"SOPInstanceUID\" style=\"template\" type=\"xs:string\"/>\n");
		retrieve(b, "            ", false);
		b.append("            <resource path=\"metadata\">\n");
		method(b, "              ", "GET", DICOM_JSON);
		b.append("            </resource>\n");
		b.append("            <resource path=\"frames/{FrameList}\">\n");
		b.append("              <param name=\"FrameList\" style=\"template\" type=\"xs:string\"/>\n");
		method(b, "              ", "GET", MULTIPART_OCTET, "application/octet-stream");
		b.append("            </resource>\n");
		b.append("            <resource path=\"bulkdata/{TagPath}\">\n");
		b.append("              <param name=\"TagPath\" style=\"template\" type=\"xs:string\"/>\n");
		method(b, "              ", "GET", MULTIPART_OCTET, "application/octet-stream");
		b.append("            </resource>\n");
		b.append("            <resource path=\"pixeldata\">\n");
		method(b, "              ", "GET", MULTIPART_OCTET, "application/octet-stream");
		b.append("            </resource>\n");
		for (String r : new String[] {"rendered", "thumbnail", "frames/{FrameNumber}/rendered", "frames/{FrameNumber}/thumbnail"}) {
			b.append("            <resource path=\"").append(xml(r)).append("\">\n");
			method(b, "              ", "GET", "image/jpeg", "image/png");
			b.append("            </resource>\n");
		}
		b.append("          </resource>\n");
		b.append("        </resource>\n");
		b.append("      </resource>\n");
	}

	private static void qido(StringBuilder b, String in) {
		b.append(in).append("<method name=\"GET\" id=\"SearchFor\">\n")
				.append(in).append("  <request>\n");
		for (String p : new String[] {"{attributeID}", "includefield", "fuzzymatching", "limit", "offset"}) {
			b.append(in).append("    <param name=\"").append(xml(p)).append("\" style=\"query\" repeating=\"true\"/>\n");
		}
		b.append(in).append("  </request>\n")
				.append(in).append("  <response status=\"200\"><representation mediaType=\"").append(DICOM_JSON).append("\"/></response>\n")
				.append(in).append("</method>\n");
	}

	private static void stow(StringBuilder b, String in) {
		b.append(in).append("<method name=\"POST\" id=\"Store\">\n")
				.append(in).append("  <request><representation mediaType=\"").append(xml(MULTIPART_DICOM)).append("\"/>")
				.append("<representation mediaType=\"application/dicom\"/></request>\n")
				.append(in).append("  <response status=\"200 202 409\"><representation mediaType=\"").append(DICOM_JSON).append("\"/></response>\n")
				.append(in).append("</method>\n");
	}

	private static void retrieve(StringBuilder b, String in, boolean multipartOnly) {
		if (multipartOnly) {
			method(b, in, "GET", MULTIPART_DICOM);
		} else {
			method(b, in, "GET", MULTIPART_DICOM, "application/dicom");
		}
		b.append(in).append("<method name=\"DELETE\" id=\"Delete\"><response status=\"204 404\"/></method>\n");
	}

	private static void method(StringBuilder b, String in, String theName, String... theMediaTypes) {
		b.append(in).append("<method name=\"").append(theName).append("\">\n").append(in).append("  <response status=\"200\">");
		for (String m : theMediaTypes) {
			b.append("<representation mediaType=\"").append(xml(m)).append("\"/>");
		}
		b.append("</response>\n").append(in).append("</method>\n");
	}

	private static String xml(String s) {
		return s.replace("&", "&amp;").replace("<", "&lt;").replace("\"", "&quot;");
	}
}
