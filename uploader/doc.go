// Package uploader is hotfolder's client of Adobe's Photoshop API v2: it
// reads recipes, checks an input locally, uploads it to [Storage], submits
// each job of the recipe, polls its status and downloads its outputs.
//
// # Use
//
// Build one [Client] with [New] and share it between workers; it is safe for
// concurrent use. Read the recipe once ([ParseRecipe], or [StepFromFlags]
// for a one-step recipe from -op, -set and -output) and call
// [Recipe.Normalize]. For each file:
//
//	err := c.Check(ctx, r.Steps[0], path) // local checks, no request
//	src, err := c.Upload(ctx, path)       // Storage.Put + PresignGet
//	url := src.URL
//	for _, step := range r.Steps {
//		job, err := c.Submit(ctx, step, url) // POST the operation
//		outs, err := c.Wait(ctx, job)        // GET the status until done or the deadline
//		// an earlier step has one output, the next step's input: its URL
//		// (if the next step AcceptsAnyURL), else download it and Upload it
//		url = outs[0].URL
//	}
//	n, err := c.Download(ctx, out, f) // each output of the last step into a file
//	err = c.Discard(ctx, src)         // delete the uploaded input
//
// Call [Client.CheckAuth] once at start-up so that bad credentials stop the
// run before any file is touched, and [Client.Close] at the end: it deletes
// the recipe's files (actions, presets, watermarks…), which the Client
// uploaded once per content when a job first needed them.
//
// # Operations
//
//	remove-background  POST {ImageAPIURL}/v2/remove-background   quota: remove background
//	edit               POST {PhotoshopAPIURL}/v2/edit             quota: general
//	actions            POST {PhotoshopAPIURL}/v2/execute-actions  quota: general
//	product-crop       POST {PhotoshopAPIURL}/v2/execute-actions  quota: general (Adobe's product-crop ActionJSON)
//	composite          POST {PhotoshopAPIURL}/v2/create-composite quota: general
//	manifest           POST {PhotoshopAPIURL}/v2/generate-manifest quota: general (the manifest comes back embedded)
//	auto-crop          POST {ImageAPIURL}/v1/auto-crop           quota: general (undocumented; budgeted as general)
//
// A job's status is polled at the statusUrl Adobe returns when it is on a
// configured API host, else at /v2/status/{jobId} on the host the job was
// submitted to.
//
// # Recipes
//
// A recipe file is JSON, or YAML when its name ends in .yaml or .yml:
//
//	steps:
//	  - op: remove-background
//	    mode: cutout
//	  - op: product-crop
//	    padding: 40px          # or "5%"
//	  - op: edit
//	    autoTone: true
//	    light: {exposure: 0.5, contrast: 15}
//	    presets: [looks/warm.xmp]
//	  - op: actions
//	    actions:
//	      - file: house.atn
//	        action: Resize to Web
//	      - file: tweak.json
//	  - op: composite
//	    resize: {width: 2048}
//	    trim: true
//	    icc: sRGB IEC61966-2.1   # or {file: profile.icc, name: House}
//	    watermark: logo.png
//	outputs:
//	  - jpeg:quality=maximum
//	  - jpeg:maxWidth=2048
//	  - png:compression=high
//
// Each step is one job on the previous step's result. The top-level
// outputs are the last step's renditions; a step may give its own outputs
// instead (the last, not both; an earlier step at most one, the format
// the next step reads, png by default). A rendition is FORMAT or
// FORMAT:KEY=VALUE,… with keys quality (jpeg: very_poor, poor, low,
// medium, high, maximum, photoshop_max), compression (png: none, very_low,
// low, medium_low, medium, medium_high, default, high, very_high,
// maximum), width, maxWidth (pixels) and resample (nearest_neighbor,
// bilinear, bicubic, bicubic_smoother, bicubic_sharper).
//
// The options of each step are Adobe's field names, so that Adobe's
// reference explains them; file paths are relative to the recipe's folder.
// Unknown keys are errors.
//
//	remove-background  mode (cutout, mask, psd), backgroundColor ("ffffff", "#ff000080" or
//	                   {red, green, blue, alpha}), trim (bool), colorDecontamination (0–1).
//	                   outputs: exactly one of png (default), jpeg, webp, psd; no options.
//	edit               autoTone (bool); autoStraighten (true, or {enabled, constrainCrop,
//	                   uprightMode: auto|full|level|vertical}); light {exposure −5…5,
//	                   contrast, highlights, shadows, whites, blacks −100…100}; color
//	                   {saturation, vibrance −100…100, whiteBalance: As Shot|Auto|Cloudy|
//	                   Custom|Daylight|Flash|Fluorescent|Shade|Tungsten}; effects {clarity,
//	                   dehaze, texture, vignette −100…100}; sharpen {detail 0…100, radius
//	                   0.5…3, edgeMasking 0…100}; sharpness 0…150; noiseReduction {luminance,
//	                   color 0…100}; presets (≤ 10 .xmp files); xmp (a file, or {file,
//	                   orientation, masks: [{file, digest}]}).
//	                   outputs: jpeg (default quality=maximum), png, dng, xmp; not resized.
//	actions            actions (1–10: a file, or {file, action}: an .atn action set, the
//	                   action to run in it, or all; or an ActionJSON .json file),
//	                   additionalContents (≤ 25 files, __ADDITIONAL_CONTENTS_PATH_0__…),
//	                   brushes, patterns (≤ 10 files each), fontOptions {additionalFonts
//	                   (files), defaultFontPostScriptName, missingFontStrategy: fail|use_default}.
//	                   outputs: jpeg (default quality=photoshop_max), png, tiff, psd, resized or not.
//	product-crop       padding (pixels: 40 or "40px", or "5%"; default Adobe's 10px).
//	                   outputs: png (default), jpeg, tiff, psd, resized or not.
//	composite          resize {width, height (pixels, or "50%"), constrainProportions (default
//	                   true), resample (default bicubic)}, trim (bool: trim transparent
//	                   pixels), watermark (an image file, added as the top layer), icc (a
//	                   standard profile's name: Adobe RGB (1998), Apple RGB, ColorMatch RGB,
//	                   sRGB IEC61966-2.1, Dot Gain 10%…30%, Gray Gamma 1.8, Gray Gamma 2.2;
//	                   or {file, name, imageMode: rgb|grayscale|cmyk}), applied to every output.
//	                   outputs: jpeg (default quality=photoshop_max), png, tiff, psd, resized or not.
//	manifest           includeLayerThumbnails, trimToTransparency, includeXmp,
//	                   extractSmartObjectData (bools), maximumThumbnailDepth (0: no limit),
//	                   exportOptions (the thumbnails: "jpeg:quality=high" or "png:compression=…").
//	                   outputs: json. Last step only.
//	auto-crop          mode (smartCrop (default), subjectCrop, fullSceneDetection,
//	                   objectDetection), aspectRatio (≤ 20 of 1:1, 16:9, 9:16, 4:3, 3:4, 4:5,
//	                   5:4, 3:2, 2:3, 21:9; default 1:1; crop modes only), focus (labels;
//	                   required by subjectCrop and objectDetection, refused by the others),
//	                   zoom (one per aspect ratio, each in (0, 1]).
//	                   outputs: none: one image per aspect ratio. Last step only.
//
// On the command line, -op names the operation, each -set KEY=VALUE sets
// an option by its dotted path (-set light.exposure=0.5; a value that
// parses as JSON is JSON, anything else a string: -set actions=house.atn)
// and each -output adds a rendition.
//
// [Recipe.Fingerprint] hashes everything that changes the results,
// including the content (not the path) of every file the recipe names.
//
// # Where Adobe's guides and spec disagree
//
// The request bodies follow photoshop-v2-ops.md and Adobe's spec, which
// spec_test.go checks every body against; where they disagree, the
// reference's §9 decides:
//
//   - Hosted outputs always send validityPeriod (Config.ResultValidity,
//     default 3600 s): the spec marks it required and also defaulted.
//   - Edit presets are sent in the guides' form, {"source":{"url":…}}, not
//     the spec's bare {"url":…} (§9 #5).
//   - Edit options go inside "edits" (the spec), not at the top level.
//   - execute-actions JPEG outputs without a quality get photoshop_max:
//     Adobe guarantees no default there (§2.5).
//   - Composite resize always sends resample (the spec's default is
//     bilinear, the guide's bicubic; hotfolder's is bicubic) and
//     constrainProportions.
//   - ActionJSON of at most 50 KB goes inline as the JSON text of an
//     array; bigger ones, and .atn files, by URL.
//   - ICC profiles are {type, name, imageMode, source} (the spec), not the
//     {standard: …} of one guide.
//   - The status's result.outputs is read as an array (the guides), or an
//     object (the spec); an output's URL at destination.url or url. An
//     auto-crop result is looked for in result.outputs[] and in result,
//     its crops first, in the order of the aspect ratios.
//   - Inputs may be 5 GB (the GA notes; another page says 4 GB).
//
// # Retries
//
// One loop (Client.pace) decides for every request, following Adobe's seed
// document: 5xx answers and network errors are retried [RetryPolicy.Retries]
// times with exponential back-off and full jitter; a 429 is reported to the
// [Limiter] (every worker sharing the quota pauses) and sent again, never
// counted as a retry and never failing the file; a 401 gets one fresh token
// and one more try; every other 4xx fails at once.
//
// # Errors
//
// Errors start with the operation that failed (token, submit, status,
// download, upload, validate, discard) and never contain a token, the client
// secret or a URL's query string (presigned URLs carry signatures there).
// Fatal ones (rejected credentials, no entitlement, a wrong base URL) have a
// Fatal() bool method returning true; most carry a Hint() string saying what
// to do. Callers branch with errors.Is ([ErrJobGone], [ErrJobTimeout]) and
// errors.As ([*APIError], [*JobFailedError], [*RejectedError],
// [*TimeoutError]). Recipe errors name the field: "steps[1].light.exposure:
// 7 is out of -5…5".
package uploader
