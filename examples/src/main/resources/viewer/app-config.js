/** @type {AppTypes.Config} */
// OHIF configuration served by the dicom-fhir example server at /app-config.js (instead of the
// one in OHIF's dist/): one data source, the server's own DICOMweb facade on the same origin.
// The facade's capabilities are in docs/dicomweb.md; the choices below follow them:
//   - QIDO supports includefield, wildcards and fuzzymatching → all three on;
//   - no rendered/thumbnail resources → images and thumbnails are decoded from WADO-RS frames;
//   - frames are sent as stored (transfer-syntax=*), OHIF decodes them in the browser;
//   - BulkDataURIs in the metadata are absolute URLs of the facade.
const dicomWebRoot = window.location.origin + '/fhir/dicomweb';

window.config = {
  name: 'dicom-fhir',
  routerBasename: null,
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  maxNumberOfWebWorkers: 3,
  // The server sends COOP/COEP headers with the viewer, so the page is cross-origin isolated.
  showWarningMessageForCrossOrigin: true,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  groupEnabledModesFirst: true,
  maxNumRequests: {
    interaction: 100,
    thumbnail: 5,
    prefetch: 25,
  },
  showErrorDetails: 'always',
  defaultDataSourceName: 'dicomfhir',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dicomfhir',
      configuration: {
        friendlyName: 'dicom-fhir DICOMweb facade',
        name: 'dicomfhir',
        qidoRoot: dicomWebRoot,
        wadoRoot: dicomWebRoot,
        wadoUriRoot: dicomWebRoot,
        qidoSupportsIncludeField: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsReject: false,
        dicomUploadEnabled: false,
        staticWado: false,
        bulkDataURI: {
          enabled: true,
          relativeResolution: 'studies',
        },
        omitQuotationForMultipartRequest: true,
      },
    },
  ],
};
