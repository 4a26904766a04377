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
		String in = "        ";
		open(b, "      ", "{StudyInstanceUID}", "StudyInstanceUID");
		retrieve(b, in, true);
		stow(b, in);
		thumbnailAndMetadata(b, in);
		search(b, in, "series");
		search(b, in, "instances");

		open(b, in, "series/{SeriesInstanceUID}", "SeriesInstanceUID");
		in = "          ";
		retrieve(b, in, true);
		thumbnailAndMetadata(b, in);
		search(b, in, "instances");

		open(b, in, "instances/{SOPInstanceUID}", "SOPInstanceUID");
		in = "            ";
		retrieve(b, in, false);
		get(b, in, "metadata", null, DICOM_JSON);
		get(b, in, "frames/{FrameList}", "FrameList", MULTIPART_OCTET, "application/octet-stream");
		get(b, in, "bulkdata/{TagPath}", "TagPath", MULTIPART_OCTET, "application/octet-stream");
		get(b, in, "pixeldata", null, MULTIPART_OCTET, "application/octet-stream");
		for (String r : new String[] {"rendered", "thumbnail", "frames/{FrameNumber}/rendered", "frames/{FrameNumber}/thumbnail"}) {
			get(b, in, r, null, "image/jpeg", "image/png");
		}
		b.append("          </resource>\n");
		b.append("        </resource>\n");
		b.append("      </resource>\n");
	}

	/** Opens a resource at indentation {@code in}, with its path template parameter when {@code theParam} is not null. */
	private static void open(StringBuilder b, String in, String thePath, String theParam) {
		b.append(in).append("<resource path=\"").append(xml(thePath)).append("\">\n");
		if (theParam != null) {
			b.append(in).append("  <param name=\"").append(theParam).append("\" style=\"template\" type=\"xs:string\"/>\n");
		}
	}

	/** A resource answering GET with these media types. */
	private static void get(StringBuilder b, String in, String thePath, String theParam, String... theMediaTypes) {
		open(b, in, thePath, theParam);
		method(b, in + "  ", "GET", theMediaTypes);
		b.append(in).append("</resource>\n");
	}

	/** A QIDO resource below a study or series. */
	private static void search(StringBuilder b, String in, String thePath) {
		open(b, in, thePath, null);
		qido(b, in + "  ");
		b.append(in).append("</resource>\n");
	}

	/** The thumbnail and metadata of a study or series. */
	private static void thumbnailAndMetadata(StringBuilder b, String in) {
		get(b, in, "thumbnail", null, "image/jpeg", "image/png");
		get(b, in, "metadata", null, DICOM_JSON);
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
